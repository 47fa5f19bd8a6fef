import {describe, expect, it} from 'vitest'

import {assignPartitions, ownerOf} from '../../../src/control-plane/partition-assignment.js'

const PARTITIONS = 64
const THREE = ['worker-a', 'worker-b', 'worker-c']

describe('assignPartitions', () => {
  it('assigns every partition exactly once', () => {
    for (const workers of [['solo'], THREE, [...THREE, 'worker-d'], Array.from({length: 10}, (_, i) => `w${i}`)]) {
      const assignment = assignPartitions(workers, PARTITIONS)
      expect([...assignment.keys()].sort()).toEqual([...workers].sort())
      const all = [...assignment.values()].flat().sort((a, b) => a - b)
      expect(all).toEqual(Array.from({length: PARTITIONS}, (_, p) => p))
    }
  })

  it('agrees with ownerOf', () => {
    const assignment = assignPartitions(THREE, PARTITIONS)
    for (const [worker, partitions] of assignment) for (const p of partitions) expect(ownerOf(THREE, p)).toBe(worker)
  })

  it('no workers: an empty map; no partitions: every worker gets an empty list', () => {
    expect(assignPartitions([], PARTITIONS).size).toBe(0)
    expect(assignPartitions(THREE, 0)).toEqual(new Map(THREE.map((w) => [w, []])))
  })

  it('is deterministic regardless of worker order', () => {
    const reference = owners(THREE)
    for (const order of permutations(THREE)) {
      expect(owners(order)).toEqual(reference)
      expect(assignPartitions(order, PARTITIONS).get('worker-b')).toEqual(assignPartitions(THREE, PARTITIONS).get('worker-b'))
    }
  })

  it('balances 64 partitions over 3 workers within reason (10..35 each)', () => {
    for (const workers of [THREE, ['w1', 'w2', 'w3'], ['node-1', 'node-2', 'node-3'], ['gw-x', 'gw-y', 'gw-z']]) {
      for (const partitions of assignPartitions(workers, PARTITIONS).values()) {
        expect(partitions.length).toBeGreaterThanOrEqual(10)
        expect(partitions.length).toBeLessThanOrEqual(35)
      }
    }
  })

  it('adding a worker moves only the partitions the new worker wins', () => {
    const before = owners(THREE)
    const after = owners([...THREE, 'worker-d'])
    let moved = 0
    for (let p = 0; p < PARTITIONS; p++) {
      if (before[p] !== after[p]) {
        expect(after[p]).toBe('worker-d')
        moved++
      }
    }
    // The new worker takes a real share, and nothing else shuffles.
    expect(moved).toBe(assignPartitions([...THREE, 'worker-d'], PARTITIONS).get('worker-d')!.length)
    expect(moved).toBeGreaterThan(0)
    expect(moved).toBeLessThan(PARTITIONS / 2)
  })

  it('removing a worker moves only the partitions it held', () => {
    const four = [...THREE, 'worker-d']
    const before = owners(four)
    for (const leaving of four) {
      const remaining = four.filter((w) => w !== leaving)
      const after = owners(remaining)
      for (let p = 0; p < PARTITIONS; p++) {
        if (before[p] === leaving) expect(remaining).toContain(after[p])
        else expect(after[p]).toBe(before[p])
      }
    }
  })

  it('duplicate worker names do not duplicate partitions', () => {
    const assignment = assignPartitions([...THREE, 'worker-a'], PARTITIONS)
    expect([...assignment.values()].flat()).toHaveLength(PARTITIONS)
    expect(owners([...THREE, 'worker-a'])).toEqual(owners(THREE))
  })
})

function owners(workers: readonly string[]): string[] {
  return Array.from({length: PARTITIONS}, (_, p) => ownerOf(workers, p))
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
}
