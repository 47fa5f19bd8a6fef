import {systemClock, type Clock, type RateLimiter} from '../../core/ports.js'
import {type BucketState, bucketFullAt, takeTokens} from '../../core/token-bucket.js'

export interface MemoryRateLimiterOptions {
  clock?: Clock
  /** Most buckets kept; beyond it the least recently used go first (they restart full). */
  maxKeys?: number
  /** How often full (idle) buckets are swept out. */
  sweepIntervalMs?: number
}

/**
 * In-process token buckets for the single node; same algorithm as the Redis limiter. A bucket that has
 * refilled is the same as no bucket, so idle ones are swept and memory stays bounded by `maxKeys`.
 */
export function createMemoryRateLimiter(options: MemoryRateLimiterOptions = {}): RateLimiter {
  const clock = options.clock ?? systemClock
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS
  const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_MS
  // Map order is least recently used first: every take re-inserts its key.
  const buckets = new Map<string, Entry>()
  let nextSweepAt = clock.now() + sweepIntervalMs
  let closed = false

  const sweep = (now: number) => {
    nextSweepAt = now + sweepIntervalMs
    for (const [key, entry] of buckets) if (entry.fullAt <= now) buckets.delete(key)
  }

  return {
    kind: 'memory',

    async take(key, rule, cost = 1) {
      const now = clock.now()
      if (now >= nextSweepAt) sweep(now)
      const {decision, state} = takeTokens(buckets.get(key)?.state, rule, cost, now)
      buckets.delete(key)
      buckets.set(key, {state, fullAt: bucketFullAt(state, rule)})
      if (buckets.size > maxKeys) {
        sweep(now)
        for (const oldest of buckets.keys()) {
          if (buckets.size <= maxKeys) break
          buckets.delete(oldest)
        }
      }
      return decision
    },

    healthy: () => !closed,

    async close() {
      closed = true
      buckets.clear()
    },
  }
}

const DEFAULT_MAX_KEYS = 100_000
const DEFAULT_SWEEP_MS = 10_000

interface Entry {
  state: BucketState
  fullAt: number
}
