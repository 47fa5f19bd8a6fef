import {describe, expect, it} from 'vitest'

import {shortCache} from '../../../src/control-plane/short-cache.js'

describe('shortCache', () => {
  it('shares one load among concurrent callers and within the window, then loads again', async () => {
    let now = 1_000
    const {load, loads, settle} = loader()
    const cache = shortCache(load, 500, {now: () => now})
    const first = [cache.get(), cache.get(), cache.get()]
    expect(loads()).toBe(1)
    settle(0, 'a')
    expect(await Promise.all(first)).toEqual(['a', 'a', 'a'])
    now += 499
    expect(await cache.get()).toBe('a')
    expect(loads()).toBe(1)
    now += 1
    const next = cache.get()
    expect(loads()).toBe(2)
    settle(1, 'b')
    expect(await next).toBe('b')
  })

  it('does not keep a failed load, and invalidate() forgets the value and the load in flight', async () => {
    const now = 1_000
    const {load, loads, settle, fail} = loader()
    const cache = shortCache(load, 500, {now: () => now})
    const failing = cache.get()
    fail(0, new Error('db down'))
    await expect(failing).rejects.toThrow('db down')
    const retried = cache.get()
    expect(loads()).toBe(2)
    cache.invalidate()
    const fresh = cache.get()
    expect(loads()).toBe(3)
    settle(1, 'stale')
    settle(2, 'fresh')
    expect(await retried).toBe('stale')
    expect(await fresh).toBe('fresh')
    expect(await cache.get()).toBe('fresh')
    expect(loads()).toBe(3)
  })

  it('loads every time with a zero window', async () => {
    const {load, loads, settle} = loader()
    const cache = shortCache(load, 0, {now: () => 0})
    void cache.get()
    void cache.get()
    expect(loads()).toBe(2)
    settle(0, 'x')
    settle(1, 'y')
  })
})

function loader() {
  const pending: Array<{resolve: (v: string) => void; reject: (e: Error) => void}> = []
  return {
    load: () => new Promise<string>((resolve, reject) => pending.push({resolve, reject})),
    loads: () => pending.length,
    settle: (i: number, v: string) => pending[i]!.resolve(v),
    fail: (i: number, e: Error) => pending[i]!.reject(e),
  }
}
