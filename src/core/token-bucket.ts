import type {RateDecision, RateRule} from './ports.js'

// The token bucket, as a pure function of (state, rule, cost, now). The memory limiter and the
// per-connection frame limit use it directly; the Redis limiter runs the same arithmetic in Lua.

export interface BucketState {
  /** Tokens left at `at` (fractional). */
  tokens: number
  /** ms timestamp of the last update. */
  at: number
}

export interface BucketTake {
  decision: RateDecision
  /** The state to keep; unchanged (apart from the refill) when the take was refused. */
  state: BucketState
}

/** Refills to `now`, then takes `cost` tokens if there are enough. An absent bucket is full. */
export function takeTokens(state: BucketState | undefined, rule: RateRule, cost: number, now: number): BucketTake {
  assertRule(rule, cost)
  const refilled = refill(state, rule, now)
  if (refilled.tokens + EPSILON >= cost) {
    const tokens = Math.max(0, refilled.tokens - cost)
    return {decision: {ok: true, retryAfterMs: 0, remaining: Math.floor(tokens + EPSILON)}, state: {tokens, at: refilled.at}}
  }
  const retryAfterMs = Math.max(1, Math.ceil(((cost - refilled.tokens) * 1000) / rule.ratePerSec - EPSILON))
  return {decision: {ok: false, retryAfterMs, remaining: Math.floor(refilled.tokens + EPSILON)}, state: refilled}
}

/** When the bucket is full again: from then on it is the same as an absent bucket and may be dropped. */
export function bucketFullAt(state: BucketState, rule: RateRule): number {
  return state.at + Math.ceil(((rule.burst - state.tokens) * 1000) / rule.ratePerSec)
}

export function assertRule(rule: RateRule, cost = 1): void {
  if (!(rule.ratePerSec > 0) || !Number.isFinite(rule.ratePerSec)) throw new RangeError(`ratePerSec must be a positive number, got ${rule.ratePerSec}`)
  if (!(rule.burst >= 1) || !Number.isFinite(rule.burst)) throw new RangeError(`burst must be at least 1, got ${rule.burst}`)
  // A cost above the burst could never succeed and would be told to wait forever.
  if (!(cost > 0) || cost > rule.burst) throw new RangeError(`cost must be in (0, burst=${rule.burst}], got ${cost}`)
}

// Float noise (0.998 tokens + 0.002 ≠ 1): a client that waited exactly retryAfterMs must be served.
const EPSILON = 1e-9

function refill(state: BucketState | undefined, rule: RateRule, now: number): BucketState {
  if (!state) return {tokens: rule.burst, at: now}
  // A clock that steps back refills nothing instead of draining the bucket.
  const elapsed = Math.max(0, now - state.at)
  return {tokens: Math.min(rule.burst, state.tokens + (elapsed * rule.ratePerSec) / 1000), at: Math.max(now, state.at)}
}
