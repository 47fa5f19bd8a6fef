import {systemClock, type Clock, type DistinctLimiter} from '../../core/ports.js'

export interface MemoryDistinctLimiterOptions {
  clock?: Clock
  /** Most keys kept; beyond it the least recently used go first. */
  maxKeys?: number
  sweepIntervalMs?: number
}

/** In-process sliding-window distinct counts; same semantics as the Redis sorted-set script. */
export function createMemoryDistinctLimiter(options: MemoryDistinctLimiterOptions = {}): DistinctLimiter {
  const clock = options.clock ?? systemClock
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS
  const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_MS
  // key -> member -> last seen (ms); Map order is least recently used first.
  const sets = new Map<string, Entry>()
  let nextSweepAt = clock.now() + sweepIntervalMs
  let closed = false

  const sweep = (now: number) => {
    nextSweepAt = now + sweepIntervalMs
    for (const [key, entry] of sets) if (entry.expiresAt <= now) sets.delete(key)
  }

  return {
    kind: 'memory',

    async admit(key, member, rule) {
      const now = clock.now()
      if (now >= nextSweepAt) sweep(now)
      const entry = sets.get(key) ?? {members: new Map<string, number>(), expiresAt: 0}
      for (const [m, seen] of entry.members) if (seen <= now - rule.windowMs) entry.members.delete(m)
      sets.delete(key)
      if (!entry.members.has(member) && entry.members.size >= rule.limit) {
        const oldest = Math.min(...entry.members.values())
        sets.set(key, entry)
        return {ok: false, retryAfterMs: Math.max(1, oldest + rule.windowMs - now), count: entry.members.size}
      }
      entry.members.delete(member)
      entry.members.set(member, now)
      entry.expiresAt = now + rule.windowMs
      sets.set(key, entry)
      if (sets.size > maxKeys) {
        sweep(now)
        for (const oldest of sets.keys()) {
          if (sets.size <= maxKeys) break
          sets.delete(oldest)
        }
      }
      return {ok: true, retryAfterMs: 0, count: entry.members.size}
    },

    healthy: () => !closed,

    async close() {
      closed = true
      sets.clear()
    },
  }
}

const DEFAULT_MAX_KEYS = 100_000
const DEFAULT_SWEEP_MS = 10_000

interface Entry {
  members: Map<string, number>
  /** When the newest member leaves the window: from then on the key is empty. */
  expiresAt: number
}
