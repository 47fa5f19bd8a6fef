import {randomBytes} from 'node:crypto'

import {Redis} from 'ioredis'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket from 'ws'

import {createRedisDistinctLimiter} from '../../src/adapters/redis/distinct-limiter.js'
import {createRedisRateLimiter} from '../../src/adapters/redis/rate-limiter.js'
import {CLIENT_SUBPROTOCOL, type MsgrClient, RequestError} from '../../src/client/client.js'
import {availableLegs, LEGS, sleep, startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'
import {findServices, haveServices} from '../helpers/services.js'

// Rate limits through the real protocol (docs/protocol.md, "Rate limits"), with small budgets so the
// suite stays fast: per-user budgets shared by two gateways (memory limiter inside one process, Redis
// across processes), per-connection frame budgets, the duplicate-content rule and max connections.

const available = await availableLegs()

const RATE_LIMITS = {
  frames: {ratePerSec: 10, burst: 20},
  send: {ratePerSec: 4, burst: 5},
  maxConnectionsPerUser: 3,
  duplicateContent: {maxConversations: 5, windowMs: 60_000},
}

describe.each(LEGS)('rate limits on %s adapters', (leg) => {
  describe.runIf(available[leg])('', () => {
    let cluster: TestCluster

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1, config: {rateLimits: RATE_LIMITS}})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('refuses a burst of sends over the budget with retryAfterMs, and serves again after waiting', async () => {
      const {a, conversation} = await pair(cluster)
      const results = await Promise.allSettled(Array.from({length: 10}, (_, i) => send(a, conversation, `b${i}`, `burst ${i}`)))
      const ok = results.filter((r) => r.status === 'fulfilled').length
      const refused = errorsOf(results)
      expect(ok).toBeGreaterThanOrEqual(5)
      expect(ok).toBeLessThanOrEqual(6) // a token may come back while the burst is in flight
      expect(refused.length).toBe(10 - ok)
      for (const error of refused) {
        expect(error).toMatchObject({code: 'rate_limited', details: {reason: 'send'}})
        expect(error.details!.retryAfterMs).toBeGreaterThan(0)
        expect(error.details!.retryAfterMs).toBeLessThanOrEqual(1000 / RATE_LIMITS.send.ratePerSec)
      }
      await sleep(Math.max(...refused.map((e) => e.details!.retryAfterMs as number)))
      const retried = await send(a, conversation, 'b9', 'burst 9')
      expect(retried.seq).toBeGreaterThan(0)
      const metrics = await (await fetch(`${cluster.gateways[0]!.url}/metrics`)).text()
      expect(metrics).toMatch(/msgr_rate_limited_total\{[^}]*scope="send"[^}]*\} [1-9]/)
    })

    it('shares one user budget between the user’s devices on two gateways', async () => {
      const {a, pairA, conversation} = await pair(cluster)
      const a2 = await cluster.connect(await cluster.login(pairA.phone, 'second'), 1)
      const results = await Promise.allSettled([
        ...Array.from({length: 5}, (_, i) => send(a, conversation, `g0-${i}`, `from gw0 ${i}`)),
        ...Array.from({length: 5}, (_, i) => send(a2, conversation, `g1-${i}`, `from gw1 ${i}`)),
      ])
      const ok = results.filter((r) => r.status === 'fulfilled').length
      // Separate budgets would let all 10 through.
      expect(ok).toBeGreaterThanOrEqual(5)
      expect(ok).toBeLessThanOrEqual(6)
      expect(errorsOf(results).every((e) => e.code === 'rate_limited')).toBe(true)
    })

    it('answers a frame flood with rate_limited, leaves other clients alone, and closes a client that keeps flooding', async () => {
      const flooder = await cluster.connect(await cluster.login())
      const bystander = await cluster.connect(await cluster.login())
      const flood = Promise.allSettled(Array.from({length: 40}, (_, i) => flooder.requestRaw(JSON.stringify({id: `f${i}`, op: 'ping'}), `f${i}`)))
      expect(await bystander.request('ping')).toEqual({})
      const results = await flood
      const refused = errorsOf(results)
      expect(refused.length).toBeGreaterThanOrEqual(15)
      expect(refused.length).toBeLessThanOrEqual(20)
      for (const error of refused) expect(error).toMatchObject({code: 'rate_limited', details: {reason: 'frames', retryAfterMs: expect.any(Number)}})
      expect(flooder.closeCode).toBeUndefined()
      await sleep(Math.max(...refused.map((e) => e.details!.retryAfterMs as number)))
      expect(await flooder.request('ping')).toEqual({})
      // Frames refused for their rate count as bad frames: more than 50 in 10 s closes with 1008.
      for (let i = 0; i < 80; i++) flooder.ws.send(JSON.stringify({id: `g${i}`, op: 'ping'}))
      await waitFor(() => flooder.closeCode !== undefined)
      expect(flooder.closeCode).toBe(1008)
      expect(await bystander.request('ping')).toEqual({})
    })

    it('refuses the same message to a sixth conversation within the window', async () => {
      const sender = await cluster.login()
      const a = await cluster.connect(sender)
      const conversations: string[] = []
      for (let i = 0; i < 7; i++) {
        const other = await cluster.login()
        conversations.push((await a.request('conv.direct', {with: other.userId})).conversation)
      }
      const spam = 'Limited offer! Visit example.com for free stuff'
      for (const [i, conversation] of conversations.slice(0, 5).entries()) {
        await send(a, conversation, `s${i}`, spam)
        await sleep(1000 / RATE_LIMITS.send.ratePerSec) // stay inside the send budget: only the spam rule is tested
      }
      const error = await send(a, conversations[5]!, 's5', spam).then(
        () => undefined,
        (e: RequestError) => e.error,
      )
      expect(error).toMatchObject({code: 'rate_limited', details: {reason: 'duplicate_content', limit: 5}})
      expect(error!.details!.retryAfterMs).toBeGreaterThan(50_000)
      expect(error!.details!.retryAfterMs).toBeLessThanOrEqual(60_000)
      await sleep(1000 / RATE_LIMITS.send.ratePerSec)
      await send(a, conversations[0]!, 's0-again', spam) // a conversation that already has it
      await sleep(1000 / RATE_LIMITS.send.ratePerSec)
      await send(a, conversations[6]!, 's6', 'something else entirely, written for this person')
    })

    it('refuses an upgrade over maxConnectionsPerUser with HTTP 429 and Retry-After', async () => {
      const first = await cluster.login()
      const devices = [first]
      for (const i of [1, 2, 3]) devices.push(await cluster.login(first.phone, `dev${i}`)) // one OTP at a time per phone
      await cluster.connect(devices[0]!, 0)
      const second = await cluster.connect(devices[1]!, 1)
      await cluster.connect(devices[2]!, 0)
      const refused = await upgrade(cluster.gateways[1]!.url, devices[3]!.accessToken)
      expect(refused.status).toBe(429)
      expect(refused.retryAfter).toBe('10')
      expect(refused.body).toMatchObject({error: {code: 'rate_limited', details: {reason: 'max_connections', limit: 3, retryAfterMs: 10_000}}})
      // A second socket of a device that is already connected counts too.
      expect((await upgrade(cluster.gateways[0]!.url, devices[0]!.accessToken)).status).toBe(429)
      await second.close()
      await waitFor(async () => (await upgrade(cluster.gateways[1]!.url, devices[3]!.accessToken, true)).status === 101, 5000, 50)
    })
  })
})

describe.runIf(await haveServices('redis'))('redis limiters', () => {
  let redis: Redis
  const namespace = `t${randomBytes(5).toString('hex')}`

  beforeAll(async () => {
    redis = new Redis((await findServices()).redis!)
  })
  afterAll(async () => {
    redis.disconnect()
  })

  it('runs the token bucket on Redis time, expires idle buckets and survives a script flush', async () => {
    const url = (await findServices()).redis!
    const limiter = createRedisRateLimiter({url, namespace})
    await waitFor(() => limiter.healthy())
    const rule = {ratePerSec: 10, burst: 3}
    for (let i = 0; i < 3; i++) expect(await limiter.take('k', rule)).toEqual({ok: true, retryAfterMs: 0, remaining: 2 - i})
    const refused = await limiter.take('k', rule)
    expect(refused.ok).toBe(false)
    expect(refused.retryAfterMs).toBeGreaterThan(0)
    expect(refused.retryAfterMs).toBeLessThanOrEqual(100)
    const ttl = await redis.pttl(`${namespace}:rl:{k}`)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(300) // gone once full again
    await redis.script('FLUSH')
    await sleep(refused.retryAfterMs)
    expect((await limiter.take('k', rule)).ok).toBe(true) // NOSCRIPT -> EVAL
    await sleep(350)
    expect(await redis.exists(`${namespace}:rl:{k}`)).toBe(0)
    await limiter.close()
  })

  it('counts distinct members in a sliding window with a sorted set', async () => {
    const url = (await findServices()).redis!
    const limiter = createRedisDistinctLimiter({url, namespace})
    await waitFor(() => limiter.healthy())
    const rule = {limit: 2, windowMs: 1000}
    expect(await limiter.admit('k', 'a', rule)).toEqual({ok: true, retryAfterMs: 0, count: 1})
    expect(await limiter.admit('k', 'b', rule)).toEqual({ok: true, retryAfterMs: 0, count: 2})
    expect(await limiter.admit('k', 'a', rule)).toMatchObject({ok: true, count: 2})
    const refused = await limiter.admit('k', 'c', rule)
    expect(refused).toMatchObject({ok: false, count: 2})
    expect(refused.retryAfterMs).toBeGreaterThan(0)
    expect(refused.retryAfterMs).toBeLessThanOrEqual(1000)
    expect(await redis.zcard(`${namespace}:dl:{k}`)).toBe(2)
    await sleep(1050)
    expect(await limiter.admit('k', 'c', rule)).toEqual({ok: true, retryAfterMs: 0, count: 1})
    await limiter.close()
  })
})

async function pair(cluster: TestCluster) {
  const pairA = await cluster.login()
  const pairB = await cluster.login()
  const a = await cluster.connect(pairA, 0)
  const {conversation} = await a.request('conv.direct', {with: pairB.userId})
  return {a, pairA, conversation}
}

function send(c: MsgrClient, conversation: string, clientMsgId: string, body: string) {
  return c.request('send', {conversation, clientMsgId, kind: 'text', body})
}

function errorsOf(results: PromiseSettledResult<unknown>[]) {
  return results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as RequestError).error] : []))
}

/** The raw answer to an upgrade: status, Retry-After and JSON body when refused. */
function upgrade(url: string, token: string, closeOnOpen = false): Promise<{status: number; retryAfter?: string; body?: unknown}> {
  const ws = new WebSocket(new URL('/v1/ws', url.replace(/^http/, 'ws')), CLIENT_SUBPROTOCOL, {headers: {authorization: `Bearer ${token}`}})
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      resolve({status: 101})
      if (closeOnOpen) ws.close()
    })
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk.toString()))
      res.on('end', () => resolve({status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: JSON.parse(text)}))
    })
    ws.once('error', reject)
  })
}
