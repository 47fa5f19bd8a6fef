import {describe, expect, it} from 'vitest'

import {directConversationId, newId, NODE_ID_PATTERN, partitionOf} from '../../../src/core/ids.js'

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const ALICE = '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b'
const BOB = '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7c'
const CAROL = '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7d'

describe('directConversationId', () => {
  it('is the same whoever asks first, and every time', () => {
    const id = directConversationId(ALICE, BOB)
    expect(directConversationId(BOB, ALICE)).toBe(id)
    expect(directConversationId(ALICE, BOB)).toBe(id)
    expect(id).toMatch(UUID_V5)
  })

  it('is distinct per pair', () => {
    const users = [ALICE, BOB, CAROL, ...Array.from({length: 20}, () => newId())]
    const seen = new Map<string, string>()
    for (let i = 0; i < users.length; i++) {
      for (let j = i; j < users.length; j++) {
        const id = directConversationId(users[i]!, users[j]!)
        expect(seen.get(id), `${users[i]} / ${users[j]}`).toBeUndefined()
        seen.set(id, `${i}:${j}`)
      }
    }
    expect(seen.size).toBe((users.length * (users.length + 1)) / 2)
    expect(directConversationId(ALICE, ALICE)).not.toBe(directConversationId(ALICE, BOB))
  })

  it('is not any of the member ids', () => {
    const id = directConversationId(ALICE, BOB)
    expect(id).not.toBe(ALICE)
    expect(id).not.toBe(BOB)
  })
})

describe('partitionOf', () => {
  it('is FNV-1a 32: pinned against published vectors so every node keeps agreeing', () => {
    const full = 2 ** 32
    expect(partitionOf('', full)).toBe(0x811c9dc5)
    expect(partitionOf('a', full)).toBe(0xe40c292c)
    expect(partitionOf('foobar', full)).toBe(0xbf9cf968)
    expect(partitionOf(ALICE, 64)).toBe(56)
  })

  it('is stable and in range', () => {
    for (const partitions of [1, 2, 7, 64, 1000]) {
      for (let i = 0; i < 200; i++) {
        const conv = newId()
        const p = partitionOf(conv, partitions)
        expect(Number.isInteger(p)).toBe(true)
        expect(p).toBeGreaterThanOrEqual(0)
        expect(p).toBeLessThan(partitions)
        expect(partitionOf(conv, partitions)).toBe(p)
      }
    }
  })

  it('spreads conversations over every partition', () => {
    const counts = new Array<number>(16).fill(0)
    for (let i = 0; i < 1600; i++) counts[partitionOf(newId(), 16)]!++
    for (const count of counts) {
      expect(count).toBeGreaterThan(50)
      expect(count).toBeLessThan(150)
    }
  })
})

describe('newId', () => {
  it('is a UUIDv7 carrying the current time', () => {
    const before = Date.now()
    const id = newId()
    const after = Date.now()
    expect(id).toMatch(UUID_V7)
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16)
    expect(ms).toBeGreaterThanOrEqual(before)
    expect(ms).toBeLessThanOrEqual(after)
  })

  it('increases over time, within one millisecond too', async () => {
    const ids: string[] = []
    for (let i = 0; i < 1000; i++) ids.push(newId())
    await new Promise((resolve) => setTimeout(resolve, 3))
    for (let i = 0; i < 10; i++) ids.push(newId())
    expect(new Set(ids).size).toBe(ids.length)
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!, `${ids[i - 1]} < ${ids[i]}`).toBe(true)
    const msOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16)
    expect(msOf(ids.at(-1)!)).toBeGreaterThan(msOf(ids[999]!))
  })
})

describe('NODE_ID_PATTERN', () => {
  it('allows subject-safe ids only', () => {
    for (const ok of ['gw-1', 'worker_2', 'A', 'x'.repeat(64)]) expect(NODE_ID_PATTERN.test(ok), ok).toBe(true)
    for (const bad of ['', 'gw.1', 'gw 1', 'gw*', 'gw>', 'x'.repeat(65), 'gw/1']) expect(NODE_ID_PATTERN.test(bad), bad).toBe(false)
  })
})
