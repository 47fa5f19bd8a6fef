import type {Clock} from '../core/ports.js'

// A value loaded at most once per `ttlMs`: callers within the window share it, concurrent callers share
// the one load in flight (single flight). A failed load is not kept; the next caller tries again.

export interface ShortCache<T> {
  get(): Promise<T>
  /** Forgets the value, and the load in flight: the next get() loads afresh. */
  invalidate(): void
}

export function shortCache<T>(load: () => Promise<T>, ttlMs: number, clock: Clock): ShortCache<T> {
  let value: {at: number; promise: Promise<T>} | undefined
  let generation = 0
  return {
    get() {
      const now = clock.now()
      if (value && now - value.at < ttlMs) return value.promise
      const mine = ++generation
      // The window starts when the load starts: the data is never older than ttlMs plus one query.
      const promise = load()
      value = {at: now, promise}
      promise.catch(() => {
        if (generation === mine) value = undefined
      })
      return promise
    },
    invalidate() {
      generation++
      value = undefined
    },
  }
}
