import {describe, expect, it} from 'vitest'

import {cut, ResultAssembler} from '../../../../src/simulator/distributed/chunks.js'
import {addressesFor, mergeProgress, splitUsers} from '../../../../src/simulator/distributed/split.js'
import type {Progress} from '../../../../src/simulator/types.js'

// The controller's pure parts: user ranges, source addresses, merged progress, result chunks.

describe('splitUsers', () => {
  it('covers every user once in near-equal contiguous ranges', () => {
    expect(splitUsers(100_000, 6)).toEqual([
      {from: 0, count: 16_667},
      {from: 16_667, count: 16_667},
      {from: 33_334, count: 16_667},
      {from: 50_001, count: 16_667},
      {from: 66_668, count: 16_666},
      {from: 83_334, count: 16_666},
    ])
    expect(splitUsers(24, 2)).toEqual([{from: 0, count: 12}, {from: 12, count: 12}])
  })

  it('refuses fewer than two users per agent or no agents', () => {
    expect(() => splitUsers(3, 2)).toThrow(/3 users cannot be split over 2 agents/)
    expect(() => splitUsers(10, 0)).toThrow(/at least 1/)
  })
})

describe('addressesFor', () => {
  it('hands out disjoint shares when there are enough addresses', () => {
    const all = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    const shares = [0, 1, 2, 3, 4, 5].map((i) => addressesFor(all, 6, i))
    expect(shares[0]).toEqual(['a', 'g'])
    expect(shares[5]).toEqual(['f'])
    expect(shares.flat().sort()).toEqual(all)
  })

  it('shares all addresses, rotated, when there are fewer than agents', () => {
    expect(addressesFor(['a', 'b'], 3, 0)).toEqual(['a', 'b'])
    expect(addressesFor(['a', 'b'], 3, 1)).toEqual(['b', 'a'])
    expect(addressesFor([], 3, 1)).toEqual([])
  })
})

describe('mergeProgress', () => {
  const snapshot = (over: Partial<Progress>): Progress => ({
    runId: 'r',
    phase: 'steady',
    elapsedMs: 1000,
    users: 10,
    devices: 15,
    loggedIn: 10,
    connections: 15,
    sent: 5,
    acked: 4,
    deliveredEvents: 8,
    errors: 0,
    ackRate: 2,
    pending: 1,
    audit: {outOfOrder: 0, duplicated: 0, seqConflicts: 0, redelivered: 1},
    ...over,
  })

  it('adds counts, keeps the least advanced phase and the worst latency', () => {
    const merged = mergeProgress('r', [snapshot({phase: 'settle', deliveryP99Ms: 20, elapsedMs: 3000}), snapshot({phase: 'ramp-up', deliveryP99Ms: 50, connections: 7})])
    expect(merged).toMatchObject({runId: 'r', phase: 'ramp-up', elapsedMs: 3000, users: 20, devices: 30, connections: 22, sent: 10, acked: 8, deliveredEvents: 16, ackRate: 4, pending: 2, deliveryP99Ms: 50})
    expect(merged.audit.redelivered).toBe(2)
    expect(merged.deliveryP50Ms).toBeUndefined()
  })
})

describe('result chunks', () => {
  it('cuts and reassembles in any order', () => {
    const text = JSON.stringify({big: 'é'.repeat(5000), n: [1, 2, 3]})
    const bytes = Buffer.from(text, 'utf8')
    const chunks = cut(bytes, 1024)
    expect(chunks.length).toBe(Math.ceil(bytes.length / 1024))
    const assembler = new ResultAssembler()
    const order = chunks.map((_, i) => i).reverse()
    let whole: string | undefined
    for (const i of order) whole = assembler.add('a1', i, chunks.length, chunks[i]!) ?? whole
    expect(whole).toBe(text)
    expect(cut(new Uint8Array(0), 10)).toHaveLength(1)
  })

  it('rejects chunk numbers out of range', () => {
    expect(() => new ResultAssembler().add('a1', 3, 3, new Uint8Array(1))).toThrow(/out of range/)
  })
})
