import {describe, expect, it} from 'vitest'

import {afterFailure, backoffMs, type BackoffRule} from '../../../src/core/push/backoff.js'

const rule: BackoffRule = {baseMs: 1000, maxMs: 60_000, maxAttempts: 4}

describe('push backoff', () => {
  it('doubles per failed attempt, half fixed and half jitter', () => {
    expect(backoffMs(1, rule, 0)).toBe(500)
    expect(backoffMs(1, rule, 0.999999)).toBe(1000)
    expect(backoffMs(2, rule, 0)).toBe(1000)
    expect(backoffMs(3, rule, 0.5)).toBe(3000)
  })

  it('never waits longer than maxMs', () => {
    expect(backoffMs(30, rule, 1)).toBe(60_000)
    expect(backoffMs(30, rule, 0)).toBe(30_000)
  })

  it('jitter spreads retries of the same attempt', () => {
    const delays = new Set([0, 0.25, 0.5, 0.75].map((r) => backoffMs(4, rule, r)))
    expect(delays.size).toBe(4)
  })

  it('retries until maxAttempts, then dead-letters', () => {
    expect(afterFailure(1, rule, 0)).toEqual({action: 'retry', delayMs: 500})
    expect(afterFailure(3, rule, 0)).toEqual({action: 'retry', delayMs: 2000})
    expect(afterFailure(4, rule, 0)).toEqual({action: 'dead_letter'})
    expect(afterFailure(9, rule, 0)).toEqual({action: 'dead_letter'})
  })
})
