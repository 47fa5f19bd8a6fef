import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket from 'ws'

import type {MsgrClient} from '../../src/client/client.js'
import {availableLegs, LEGS, startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'
import {isMessage} from '../helpers/protocol.js'

// Slow consumers: a client that stops reading while a group's traffic flows to it is detected by the
// bytes the gateway has buffered for it (maxBufferedBytes) and closed with 1013 (overloaded: reconnect
// and sync), while the other members get every message, in order. (Frame and send rate limits and max
// connections per user: test/integration/rate-limits.test.ts.)

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

async function counter(metric: {get(): Promise<{values: Array<{value: number}>}>}): Promise<number> {
  return (await metric.get()).values.reduce((n, v) => n + v.value, 0)
}
