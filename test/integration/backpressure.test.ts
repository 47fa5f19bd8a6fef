import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket from 'ws'

import type {MsgrClient} from '../../src/client/client.js'
import {availableLegs, LEGS, startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'
import {isMessage} from '../helpers/protocol.js'

// Slow consumers: a client that stops reading while a group's traffic flows to it is detected by the
// bytes the gateway has buffered for it (maxBufferedBytes) and closed with 1013 (overloaded: reconnect
// and sync), while the other members get every message, in order. A user's new connections are metered
// across gateways. (Frame and send rate limits and max connections per user: rate-limits.test.ts.)

const available = await availableLegs()
const MAX_BUFFERED = 256 * 1024
const MESSAGES = 600
const BODY = 'x'.repeat(15 * 1024)

describe.each(LEGS)('backpressure on %s adapters', (leg) => {
  describe.runIf(available[leg])('', () => {
    let cluster: TestCluster

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 1, workers: 1, config: {maxBufferedBytes: MAX_BUFFERED}})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('closes a client that never reads with 1013 once its buffer passes the threshold; the others get everything', async () => {
      const gateway = cluster.gateways[0]!
      const senderPair = await cluster.login()
      const sender = await cluster.connect(senderPair)
      const healthyPairs = await Promise.all([1, 2, 3].map(() => cluster.login()))
      const healthy: MsgrClient[] = await Promise.all(healthyPairs.map((p) => cluster.connect(p)))
      const slowPair = await cluster.login()
      const {conversation} = await sender.request('group.create', {name: 'firehose', members: [...healthyPairs, slowPair].map((p) => p.userId)})

      // A raw client that reads its hello and then nothing more: its TCP window fills, then the gateway's buffer.
      const slow = new WebSocket(new URL('/v1/ws', gateway.url.replace(/^http/, 'ws')), 'msgr.v1+json', {headers: {authorization: `Bearer ${slowPair.accessToken}`}})
      await new Promise<void>((resolve, reject) => {
        slow.once('message', () => resolve())
        slow.once('error', reject)
      })
      const slowClosed = new Promise<number>((resolve) => slow.once('close', (code) => resolve(code)))
      ;(slow as unknown as {_socket: {pause(): void}})._socket.pause()
      const closesBefore = await counter(gateway.metrics.slowConsumerCloses)
      const connectionsBefore = gateway.gateway!.connectionCount()

      const seqs: number[] = []
      for (let i = 0; i < MESSAGES; i += 20) {
        const acks = await Promise.all(
          Array.from({length: 20}, (_, j) => sender.request('send', {conversation, clientMsgId: `m${i + j}`, kind: 'text', body: `${i + j} ${BODY}`})),
        )
        seqs.push(...acks.map((a) => a.seq))
      }
      await waitFor(async () => (await counter(gateway.metrics.slowConsumerCloses)) > closesBefore, 20_000, 50)

      for (const c of healthy) {
        const texts = () => c.events.filter(isMessage(conversation)).filter((e) => e.kind === 'text')
        await waitFor(() => texts().length >= MESSAGES, 30_000, 50)
        expect(texts().map((e) => e.seq)).toEqual(seqs)
        expect(c.closeCode).toBeUndefined()
      }
      expect(sender.closeCode).toBeUndefined()

      // Reading again, the client finds what was buffered, then the close frame: 1013, reconnect and sync.
      ;(slow as unknown as {_socket: {resume(): void}})._socket.resume()
      expect(await slowClosed).toBe(1013)
      await waitFor(() => gateway.gateway!.connectionCount() === connectionsBefore - 1, 10_000)
      // It catches up by sync after reconnecting: nothing was lost, only the live copy.
      const back = await cluster.connect(slowPair)
      let synced = 0
      for (let after = 0; ; ) {
        const page = await back.request('sync', {conversation, after, limit: 500})
        synced += page.messages.filter((m) => m.kind === 'text').length
        if (!page.hasMore) break
        after = page.messages.at(-1)!.seq
      }
      expect(synced).toBe(MESSAGES)
    })
  })
})

describe.each(LEGS)('new-connection budget on %s adapters', (leg) => {
  describe.runIf(available[leg])('', () => {
    let cluster: TestCluster

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1, config: {rateLimits: {connects: {ratePerSec: 1, burst: 3}}}})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('refuses a user’s reconnect loop with 429 and Retry-After across gateways, and lets it in after waiting', async () => {
      const user = await cluster.login()
      const other = await cluster.login()
      const statuses: number[] = []
      for (const gw of [0, 1, 0]) statuses.push((await upgrade(cluster.gateways[gw]!.url, user.accessToken)).status)
      expect(statuses).toEqual([101, 101, 101])
      const refused = await upgrade(cluster.gateways[1]!.url, user.accessToken)
      expect(refused.status).toBe(429)
      expect(refused.retryAfter).toBe('1')
      expect(refused.body).toMatchObject({error: {code: 'rate_limited', details: {reason: 'connects', retryAfterMs: expect.any(Number)}}})
      // Another user is not affected.
      expect((await upgrade(cluster.gateways[1]!.url, other.accessToken)).status).toBe(101)
      await waitFor(async () => (await upgrade(cluster.gateways[0]!.url, user.accessToken)).status === 101, 5000, 250)
    })
  })
})

/** One upgrade: its status, Retry-After and JSON body; an accepted socket is closed at once. */
function upgrade(base: string, token: string): Promise<{status: number; retryAfter?: string; body?: unknown}> {
  const ws = new WebSocket(new URL('/v1/ws', base.replace(/^http/, 'ws')), 'msgr.v1+json', {headers: {authorization: `Bearer ${token}`}})
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close()
      resolve({status: 101})
    })
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: JSON.parse(text)}))
    })
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error)
    })
  })
}

async function counter(metric: {get(): Promise<{values: Array<{value: number}>}>}): Promise<number> {
  return (await metric.get()).values.reduce((n, v) => n + v.value, 0)
}
