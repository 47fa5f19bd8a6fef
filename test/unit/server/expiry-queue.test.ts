import {afterEach, describe, expect, it, vi} from 'vitest'

import {createExpiryQueue, type Expiring} from '../../../src/server/gateway/expiry-queue.js'

interface Item extends Expiring {
  name: string
}

const item = (name: string): Item => ({name, deadline: 0, slot: -1})

describe('expiry queue', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('expires items in deadline order behind one timer', () => {
    vi.useFakeTimers()
    let now = 0
    const expired: string[] = []
    const queue = createExpiryQueue<Item>((i) => expired.push(i.name), () => now)
    for (const [name, delay] of [['c', 300], ['a', 100], ['d', 400], ['b', 200], ['a2', 100]] as const) queue.add(item(name), delay)
    expect(vi.getTimerCount()).toBe(1)
    now = 150
    vi.advanceTimersByTime(150)
    expect(expired.sort()).toEqual(['a', 'a2'])
    now = 400
    vi.advanceTimersByTime(250)
    expect(expired).toEqual(['a', 'a2', 'b', 'c', 'd'])
    expect(queue.size()).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('forgets deleted items and re-arms for the next deadline', () => {
    vi.useFakeTimers()
    let now = 0
    const expired: string[] = []
    const queue = createExpiryQueue<Item>((i) => expired.push(i.name), () => now)
    const items = Array.from({length: 50}, (_, k) => item(`i${k}`))
    items.forEach((it, k) => queue.add(it, 10 + ((k * 37) % 50) * 10))
    const kept = items.filter((_, k) => k % 3 !== 0)
    for (const [k, it] of items.entries()) if (k % 3 === 0) queue.delete(it)
    expect(items.filter((_, k) => k % 3 === 0).every((it) => it.slot === -1)).toBe(true)
    queue.delete(items[0]!) // twice is harmless
    expect(queue.size()).toBe(kept.length)
    now = 10_000
    vi.advanceTimersByTime(10_000)
    expect(expired).toEqual([...kept].sort((x, y) => x.deadline - y.deadline).map((it) => it.name))
    expect(vi.getTimerCount()).toBe(0)
  })

  it('moves an item that is added again', () => {
    vi.useFakeTimers()
    let now = 0
    const expired: string[] = []
    const queue = createExpiryQueue<Item>((i) => expired.push(i.name), () => now)
    const a = item('a')
    queue.add(a, 100)
    queue.add(item('b'), 200)
    queue.add(a, 300)
    expect(queue.size()).toBe(2)
    now = 250
    vi.advanceTimersByTime(250)
    expect(expired).toEqual(['b'])
    now = 300
    vi.advanceTimersByTime(50)
    expect(expired).toEqual(['b', 'a'])
  })
})
