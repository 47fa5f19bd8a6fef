import {EventEmitter} from 'node:events'
import type {Duplex} from 'node:stream'

import {describe, expect, it} from 'vitest'

import {createMemoryDistinctLimiter} from '../../../src/adapters/memory/distinct-limiter.js'
import {createMemoryRateLimiter} from '../../../src/adapters/memory/rate-limiter.js'
import {createMemoryRegistry} from '../../../src/adapters/memory/registry.js'
import {silentLogger} from '../../../src/core/logger.js'
import type {Clock, RateLimiter} from '../../../src/core/ports.js'
import {rateLimitsSchema} from '../../../src/core/rate-policy.js'
import {CLOSE, type WireError} from '../../../src/errors.js'
import type {Connection, Identity} from '../../../src/server/gateway/connection.js'
import {createGatewayLimits, type GatewayLimitsDeps, NO_LIMITS} from '../../../src/server/gateway/limits.js'
import {createMetrics} from '../../../src/server/metrics.js'

function setup(config: Parameters<typeof rateLimitsSchema.parse>[0] = {}, overrides: Partial<GatewayLimitsDeps> = {}) {
  let now = 1_000_000
  const clock: Clock & {advance(ms: number): void} = {now: () => now, advance: (ms) => void (now += ms)}
  const metrics = createMetrics({node: 'gw0'})
  const registry = createMemoryRegistry({clock})
  const deps: GatewayLimitsDeps = {
    nodeId: 'gw0',
    limiter: createMemoryRateLimiter({clock}),
    distinct: createMemoryDistinctLimiter({clock}),
    registry,
    metrics,
    logger: silentLogger(),
    clock,
    ...overrides,
  }
  return {limits: createGatewayLimits(rateLimitsSchema.parse(config), deps), clock, metrics, registry}
}

const who = (deviceId = 'd1', userId = 'u1'): Identity => ({userId, deviceId, sessionId: 's'})

function fakeSocket(): Duplex & {destroyed: boolean} {
  return Object.assign(new EventEmitter(), {destroyed: false}) as unknown as Duplex & {destroyed: boolean}
}

function fakeConnection() {
  const replies: Array<{re: string | undefined; error: WireError}> = []
  let bad = 0
  let closedWith: number | undefined
  const conn = {
    replyError: (re: string | undefined, error: WireError) => replies.push({re, error}),
    recordBadFrame: () => ++bad > 50,
    ws: {close: (code: number) => void (closedWith = code)},
  }
  return {conn: conn as unknown as Connection, replies, closedWith: () => closedWith}
}

async function rejection(promise: Promise<unknown>) {
  return promise.then(
    () => undefined,
    (error: {toWire(): WireError}) => error.toWire(),
  )
}

describe('gateway limits', () => {
  it('does nothing when disabled', async () => {
    const {limits} = setup({enabled: false})
    expect(limits).toBe(NO_LIMITS)
  })

  it('answers frames over the connection budget with rate_limited, and closes a client that keeps on', () => {
    const {limits, clock, metrics} = setup({frames: {ratePerSec: 10, burst: 2}})
    const {conn, replies, closedWith} = fakeConnection()
    expect(limits.refuseFrame(conn, '1')).toBe(false)
    expect(limits.refuseFrame(conn, '2')).toBe(false)
    expect(limits.refuseFrame(conn, '3')).toBe(true)
    expect(replies[0]).toEqual({re: '3', error: expect.objectContaining({code: 'rate_limited', details: {reason: 'frames', retryAfterMs: 100}})})
    expect(limits.refuseFrame(fakeConnection().conn, 'other')).toBe(false) // per connection
    clock.advance(100)
    expect(limits.refuseFrame(conn, '4')).toBe(false)
    for (let i = 0; i < 51; i++) limits.refuseFrame(conn, `f${i}`)
    expect(closedWith()).toBe(CLOSE.policy)
    return expect(metrics.registry.getSingleMetricAsString('msgr_rate_limited_total')).resolves.toMatch(/scope="frames"[^}]*\} 52$/m)
  })

  it('spends the user budget of send-like and group ops only', async () => {
    const {limits} = setup({send: {ratePerSec: 1, burst: 2}, groupAdmin: {ratePerSec: 1, burst: 1}})
    await limits.beforeOp(who(), 'send')
    await limits.beforeOp(who('d2'), 'forward') // another device, same user, same budget
    expect(await rejection(limits.beforeOp(who(), 'edit'))).toMatchObject({code: 'rate_limited', details: {reason: 'send', retryAfterMs: 1000}})
    for (let i = 0; i < 5; i++) await limits.beforeOp(who(), 'sync')
    await limits.beforeOp(who(), 'group.add')
    expect(await rejection(limits.beforeOp(who(), 'group.ban'))).toMatchObject({details: {reason: 'group_admin'}})
    await limits.beforeOp(who('d9', 'u2'), 'send') // another user
  })

  it('lets requests through when the shared limiter is down', async () => {
    const broken: RateLimiter = {kind: 'redis', take: () => Promise.reject(new Error('timeout')), healthy: () => true, close: async () => {}}
    const {limits} = setup({send: {ratePerSec: 1, burst: 1}}, {limiter: broken})
    for (let i = 0; i < 3; i++) await limits.beforeOp(who(), 'send')
    const down = setup({send: {ratePerSec: 1, burst: 1}}, {limiter: {...broken, healthy: () => false}})
    for (let i = 0; i < 3; i++) await down.limits.beforeOp(who(), 'send')
  })

  it('refuses the same content to more than maxConversations conversations', async () => {
    const {limits} = setup({duplicateContent: {maxConversations: 2}})
    const body = 'the same long enough message'
    await limits.beforeSend(who(), 'c1', 'text', body)
    await limits.beforeSend(who(), 'c2', 'text', body)
    expect(await rejection(limits.beforeSend(who(), 'c3', 'text', body))).toMatchObject({details: {reason: 'duplicate_content', retryAfterMs: 60_000, limit: 2}})
    await limits.beforeSend(who(), 'c1', 'text', body) // a conversation already counted
    await limits.beforeSend(who(), 'c3', 'text', `${body}, edited`)
    await limits.beforeSend(who(), 'c3', 'text', 'short') // under minBodyBytes
  })

  it('holds a connection slot per socket until it closes, counting other devices on other gateways', async () => {
    const {limits, registry} = setup({maxConnectionsPerUser: 3})
    const s1 = fakeSocket()
    const s2 = fakeSocket()
    await limits.admit(who('d1'), s1)
    await limits.admit(who('d1'), s2)
    await registry.add({userId: 'u1', deviceId: 'd2', connId: 'x', nodeId: 'gw1'})
    await registry.add({userId: 'u1', deviceId: 'd1', connId: 'y', nodeId: 'gw1'}) // d1 is here too: not counted again
    expect(await rejection(limits.admit(who('d3'), fakeSocket()))).toMatchObject({
      code: 'rate_limited',
      details: {reason: 'max_connections', limit: 3, retryAfterMs: 10_000},
    })
    s1.emit('close')
    await limits.admit(who('d3'), fakeSocket())
    expect(await rejection(limits.admit(who('d4'), fakeSocket()))).toMatchObject({details: {reason: 'max_connections'}})
    await limits.admit(who('d1', 'u2'), fakeSocket()) // another user
  })

  it('counts concurrent upgrades of one user on this gateway, and frees a slot whose socket died meanwhile', async () => {
    const {limits} = setup({maxConnectionsPerUser: 2})
    const results = await Promise.allSettled([1, 2, 3].map((i) => limits.admit(who(`d${i}`), fakeSocket())))
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected'])
    const {limits: other} = setup({maxConnectionsPerUser: 1})
    const dead = fakeSocket()
    dead.destroyed = true
    await other.admit(who(), dead)
    await other.admit(who(), fakeSocket())
  })
})
