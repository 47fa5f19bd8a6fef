import {describe, expect, it} from 'vitest'

import {createMemoryDistinctLimiter} from '../../../src/adapters/memory/distinct-limiter.js'
import {createMemoryRateLimiter} from '../../../src/adapters/memory/rate-limiter.js'
import type {Clock, Route} from '../../../src/core/ports.js'
import {
  connectionsInUse,
  duplicateContentKey,
  OP_RULES,
  RATE_LIMIT_DEFAULTS,
  rateLimitedError,
  rateLimitsSchema,
  userRuleFor,
} from '../../../src/core/rate-policy.js'
import {bucketFullAt, takeTokens} from '../../../src/core/token-bucket.js'
import {MsgrError} from '../../../src/errors.js'
import {OP_NAMES} from '../../../src/protocol/frames.js'

function fakeClock(start = 1_700_000_000_000): Clock & {advance(ms: number): void} {
  let now = start
  return {now: () => now, advance: (ms) => void (now += ms)}
}

describe('token bucket', () => {
  const rule = {ratePerSec: 10, burst: 5}

  it('starts full, spends the burst, then refuses with the exact wait', () => {
    let state = undefined
    for (let i = 0; i < 5; i++) {
      const take = takeTokens(state, rule, 1, 0)
      expect(take.decision).toEqual({ok: true, retryAfterMs: 0, remaining: 4 - i})
      state = take.state
    }
    const refused = takeTokens(state, rule, 1, 0)
    expect(refused.decision).toEqual({ok: false, retryAfterMs: 100, remaining: 0})
  })

  it('refills at ratePerSec and never above burst', () => {
    let {state} = takeTokens(undefined, rule, 5, 0)
    expect(takeTokens(state, rule, 1, 99).decision).toMatchObject({ok: false, retryAfterMs: 1})
    ;({state} = takeTokens(state, rule, 1, 100))
    expect(state.tokens).toBeCloseTo(0)
    expect(takeTokens(state, rule, 1, 10_000).decision).toEqual({ok: true, retryAfterMs: 0, remaining: 4})
  })

  it('asks for the time needed by the whole cost', () => {
    const {state} = takeTokens(undefined, rule, 5, 0)
    expect(takeTokens(state, rule, 3, 0).decision.retryAfterMs).toBe(300)
  })

  it('a clock stepping back refills nothing and drains nothing', () => {
    const {state} = takeTokens(undefined, rule, 4, 1000)
    const back = takeTokens(state, rule, 1, 500)
    expect(back.decision).toMatchObject({ok: true, remaining: 0})
    expect(back.state.at).toBe(1000)
  })

  it('knows when an idle bucket is full again (and may be forgotten)', () => {
    const {state} = takeTokens(undefined, rule, 5, 1000)
    expect(bucketFullAt(state, rule)).toBe(1500)
  })

  it('refuses rules and costs that could never succeed', () => {
    expect(() => takeTokens(undefined, {ratePerSec: 0, burst: 5}, 1, 0)).toThrow(RangeError)
    expect(() => takeTokens(undefined, {ratePerSec: 1, burst: 0}, 1, 0)).toThrow(RangeError)
    expect(() => takeTokens(undefined, rule, 6, 0)).toThrow(RangeError)
  })
})

describe('memory rate limiter', () => {
  it('limits per key and recovers after retryAfterMs (fake clock)', async () => {
    const clock = fakeClock()
    const limiter = createMemoryRateLimiter({clock})
    const rule = {ratePerSec: 2, burst: 3}
    for (let i = 0; i < 3; i++) expect((await limiter.take('a', rule)).ok).toBe(true)
    const refused = await limiter.take('a', rule)
    expect(refused).toEqual({ok: false, retryAfterMs: 500, remaining: 0})
    expect((await limiter.take('b', rule)).ok).toBe(true) // other keys have their own bucket
    clock.advance(499)
    expect(await limiter.take('a', rule)).toMatchObject({ok: false, retryAfterMs: 1})
    clock.advance(1)
    expect(await limiter.take('a', rule)).toEqual({ok: true, retryAfterMs: 0, remaining: 0})
    clock.advance(60_000)
    expect(await limiter.take('a', rule)).toEqual({ok: true, retryAfterMs: 0, remaining: 2})
    await limiter.close()
    expect(limiter.healthy()).toBe(false)
  })

  it('keeps at most maxKeys buckets, dropping the least recently used (which restart full)', async () => {
    const clock = fakeClock()
    const limiter = createMemoryRateLimiter({clock, maxKeys: 2})
    const rule = {ratePerSec: 1, burst: 1}
    expect((await limiter.take('a', rule)).ok).toBe(true)
    expect((await limiter.take('b', rule)).ok).toBe(true)
    expect((await limiter.take('a', rule)).ok).toBe(false) // a is now the most recently used
    expect((await limiter.take('c', rule)).ok).toBe(true) // evicts b
    expect((await limiter.take('a', rule)).ok).toBe(false)
    expect((await limiter.take('b', rule)).ok).toBe(true) // forgotten, so full again
  })

  it('sweeps idle buckets without changing any answer', async () => {
    const clock = fakeClock()
    const limiter = createMemoryRateLimiter({clock, sweepIntervalMs: 1000})
    const rule = {ratePerSec: 1, burst: 2}
    await limiter.take('idle', rule, 2)
    await limiter.take('busy', rule, 2)
    clock.advance(1500) // idle and busy both have 1.5 tokens: neither is full, neither is swept
    expect(await limiter.take('busy', rule)).toMatchObject({ok: true, remaining: 0})
    expect(await limiter.take('idle', rule)).toMatchObject({ok: true, remaining: 0})
  })
})

describe('memory distinct limiter', () => {
  const rule = {limit: 3, windowMs: 60_000}

  it('admits up to limit distinct members per window, then refuses new ones until the oldest expires', async () => {
    const clock = fakeClock()
    const limiter = createMemoryDistinctLimiter({clock})
    expect(await limiter.admit('k', 'c1', rule)).toEqual({ok: true, retryAfterMs: 0, count: 1})
    clock.advance(10_000)
    await limiter.admit('k', 'c2', rule)
    await limiter.admit('k', 'c3', rule)
    expect(await limiter.admit('k', 'c4', rule)).toEqual({ok: false, retryAfterMs: 50_000, count: 3})
    expect((await limiter.admit('k', 'c2', rule)).ok).toBe(true) // already counted: not a new member
    expect((await limiter.admit('other', 'c4', rule)).ok).toBe(true)
    clock.advance(50_000) // c1 leaves the window
    expect(await limiter.admit('k', 'c4', rule)).toEqual({ok: true, retryAfterMs: 0, count: 3})
  })

  it('does not count refused members', async () => {
    const clock = fakeClock()
    const limiter = createMemoryDistinctLimiter({clock})
    for (const c of ['c1', 'c2', 'c3']) await limiter.admit('k', c, rule)
    for (let i = 0; i < 10; i++) expect((await limiter.admit('k', `x${i}`, rule)).ok).toBe(false)
    clock.advance(60_000)
    expect(await limiter.admit('k', 'x0', rule)).toMatchObject({ok: true, count: 1})
  })
})

describe('rate policy', () => {
  it('places every op of the protocol (a new op must choose a budget)', () => {
    expect(Object.keys(OP_RULES).sort()).toEqual([...OP_NAMES].sort())
    expect(userRuleFor('send')).toBe('send')
    expect(userRuleFor('forward')).toBe('send')
    expect(userRuleFor('group.add')).toBe('groupAdmin')
    expect(userRuleFor('group.create')).toBe('groupAdmin')
    expect(userRuleFor('sync')).toBeNull()
    expect(userRuleFor('ping')).toBeNull()
  })

  it('fills every default and accepts partial overrides', () => {
    const defaults = rateLimitsSchema.parse(undefined)
    expect(defaults).toEqual({
      enabled: true,
      frames: {ratePerSec: 50, burst: 100},
      send: {ratePerSec: 20, burst: 40},
      groupAdmin: {ratePerSec: 5, burst: 20},
      maxConnectionsPerUser: 10,
      connects: {ratePerSec: 1, burst: 20},
      duplicateContent: {maxConversations: 5, windowMs: 60_000, minBodyBytes: 16},
    })
    expect(defaults.send).toEqual(RATE_LIMIT_DEFAULTS.send)
    const custom = rateLimitsSchema.parse({send: {burst: 3}, duplicateContent: {maxConversations: 2}})
    expect(custom.send).toEqual({ratePerSec: 20, burst: 3})
    expect(custom.duplicateContent).toEqual({maxConversations: 2, windowMs: 60_000, minBodyBytes: 16})
    expect(rateLimitsSchema.parse({enabled: false}).enabled).toBe(false)
  })

  it('refuses rules that make no sense', () => {
    expect(rateLimitsSchema.safeParse({send: {ratePerSec: 0}}).success).toBe(false)
    expect(rateLimitsSchema.safeParse({frames: {burst: 0.5}}).success).toBe(false)
    expect(rateLimitsSchema.safeParse({maxConnectionsPerUser: 0}).success).toBe(false)
  })

  it('keys duplicate content by user, kind and body; short bodies never count', () => {
    const text = 'Limited offer, click here now'
    const key = duplicateContentKey('u1', 'text', text, 16)
    expect(key).toMatch(/^dup:u1:[A-Za-z0-9_-]{22}$/)
    expect(duplicateContentKey('u1', 'text', text, 16)).toBe(key)
    expect(duplicateContentKey('u2', 'text', text, 16)).not.toBe(key)
    expect(duplicateContentKey('u1', 'note', text, 16)).not.toBe(key)
    expect(duplicateContentKey('u1', 'text', `${text}!`, 16)).not.toBe(key)
    expect(duplicateContentKey('u1', 'text', 'ok', 16)).toBeUndefined()
    expect(duplicateContentKey('u1', 'sticker', {pack: 'cats', id: 'wave-hello'}, 16)).toMatch(/^dup:u1:/)
  })

  it('counts connections: all here, plus other devices elsewhere that are not also here', () => {
    const route = (deviceId: string, nodeId = 'gw1'): Route => ({userId: 'u', deviceId, connId: `${deviceId}-${nodeId}`, nodeId})
    expect(connectionsInUse([], [], 'd1')).toBe(0)
    expect(connectionsInUse(['d1', 'd1', 'd2'], [], 'd3')).toBe(3)
    expect(connectionsInUse(['d1'], [route('d2'), route('d3'), route('d3', 'gw2')], 'd4')).toBe(3)
    // A gateway died: its routes linger. The devices reconnecting here do not count twice, nor does
    // the connecting device's own ghost.
    expect(connectionsInUse(['d1', 'd2'], [route('d1'), route('d2'), route('d3')], 'd3')).toBe(2)
  })

  it('shapes every refusal as rate_limited with reason and retryAfterMs', () => {
    const error = rateLimitedError('send', 123.2)
    expect(error).toBeInstanceOf(MsgrError)
    expect(error.toWire()).toMatchObject({code: 'rate_limited', details: {reason: 'send', retryAfterMs: 124}})
    expect(error.status).toBe(429)
    expect(rateLimitedError('duplicate_content', 0, {limit: 5}).details).toEqual({reason: 'duplicate_content', retryAfterMs: 1, limit: 5})
  })
})
