import {describe, expect, it} from 'vitest'

import {DeviceBatcher} from '../../../src/core/push/batcher.js'

describe('DeviceBatcher', () => {
  it('gathers a burst for one device into one batch due at the end of the window', () => {
    const b = new DeviceBatcher<number>({windowMs: 1000, maxBatch: 10})
    b.add('d1', 1, 0)
    b.add('d1', 2, 400)
    b.add('d2', 3, 500)
    expect(b.nextDueAt()).toBe(1000)
    expect(b.takeDue(999)).toEqual([])
    const due = b.takeDue(1000)
    expect(due).toEqual([{device: 'd1', items: [1, 2], dueAt: 1000}])
    expect(b.nextDueAt()).toBe(1500)
    expect(b.size()).toBe(1)
  })

  it('a full batch is due at once', () => {
    const b = new DeviceBatcher<number>({windowMs: 1000, maxBatch: 3})
    for (let i = 0; i < 3; i++) b.add('d', i, 10)
    expect(b.takeDue(10).map((x) => x.items)).toEqual([[0, 1, 2]])
  })

  it('a deferred (rate-limited) batch absorbs what arrives meanwhile and keeps order', () => {
    const b = new DeviceBatcher<string>({windowMs: 100, maxBatch: 100})
    b.add('d', 'a', 0)
    const [batch] = b.takeDue(100)
    b.add('d', 'b', 150)
    b.defer(batch!, 5000)
    expect(b.takeDue(4999)).toEqual([])
    expect(b.takeDue(5000)).toEqual([{device: 'd', items: ['a', 'b'], dueAt: 5000}])
  })

  it('drain hands back everything held', () => {
    const b = new DeviceBatcher<number>({windowMs: 100, maxBatch: 100})
    b.add('x', 1, 0)
    b.add('y', 2, 0)
    expect(b.items().sort()).toEqual([1, 2])
    expect(b.drain().sort()).toEqual([1, 2])
    expect(b.nextDueAt()).toBeUndefined()
  })
})
