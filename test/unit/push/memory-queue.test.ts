import {afterEach, describe, expect, it} from 'vitest'

import {createMemoryPushQueue} from '../../../src/adapters/memory/push-queue.js'
import type {PushQueue, PushQueueMessage} from '../../../src/core/push/queue.js'

// The embedded push queue (`msgr serve all`): the same redelivery contract as the JetStream one.

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (m: {data: Uint8Array}) => new TextDecoder().decode(m.data)
const until = async (predicate: () => boolean, ms = 3000) => {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('memory push queue', () => {
  let queue: PushQueue
  afterEach(async () => {
    await queue?.close()
  })

  it('hands jobs out, redelivers on nak (after the delay) with a higher delivery count', async () => {
    queue = createMemoryPushQueue({ackWaitMs: 10_000})
    const got: PushQueueMessage[] = []
    await queue.consume((m) => got.push(m))
    await queue.publish(bytes('a'))
    await until(() => got.length === 1)
    expect([text(got[0]!), got[0]!.deliveryCount]).toEqual(['a', 1])
    const before = Date.now()
    got[0]!.nak(100)
    await until(() => got.length === 2)
    expect(Date.now() - before).toBeGreaterThanOrEqual(90)
    expect(got[1]!.deliveryCount).toBe(2)
    got[1]!.ack()
    got[1]!.nak() // settled already: ignored
    await new Promise((r) => setTimeout(r, 50))
    expect(got).toHaveLength(2)
  })

  it('a job nobody settles comes back after the ack wait; working() postpones that', async () => {
    queue = createMemoryPushQueue({ackWaitMs: 150})
    const got: PushQueueMessage[] = []
    await queue.consume((m) => got.push(m))
    await queue.publish(bytes('x'))
    await until(() => got.length === 1)
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 60))
      got[0]!.working()
    }
    expect(got).toHaveLength(1)
    await until(() => got.length === 2)
    expect(got[1]!.deliveryCount).toBe(2)
  })

  it('jobs published before anyone consumes wait; a stopped consumer hands its jobs back at once', async () => {
    queue = createMemoryPushQueue({ackWaitMs: 60_000})
    await queue.publish(bytes('early'))
    const first: PushQueueMessage[] = []
    const c1 = await queue.consume((m) => first.push(m))
    await until(() => first.length === 1)
    await c1.stop()
    const second: PushQueueMessage[] = []
    await queue.consume((m) => second.push(m))
    await until(() => second.length === 1)
    expect([text(second[0]!), second[0]!.deliveryCount]).toEqual(['early', 2])
  })

  it('dead letters keep the job, reason and attempts; redrive puts them back on the queue', async () => {
    queue = createMemoryPushQueue()
    await queue.deadLetter({data: bytes('d1'), reason: 'transient: 500', attempts: 3})
    await queue.deadLetter({data: bytes('d2'), reason: 'rejected: 400', attempts: 1})
    const dead = await queue.listDead(10)
    expect(dead.map((d) => [text(d), d.reason, d.attempts])).toEqual([
      ['d1', 'transient: 500', 3],
      ['d2', 'rejected: 400', 1],
    ])
    expect(await queue.listDead(1)).toHaveLength(1)
    const got: PushQueueMessage[] = []
    await queue.consume((m) => got.push(m))
    expect(await queue.redrive(1)).toBe(1)
    await until(() => got.length === 1)
    expect(text(got[0]!)).toBe('d1')
    expect((await queue.listDead(10)).map(text)).toEqual(['d2'])
  })
})
