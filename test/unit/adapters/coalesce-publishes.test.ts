import {describe, expect, it} from 'vitest'

import {coalescePublishes} from '../../../src/adapters/nats/bus.js'

// The NATS bus starts the ingest publishes asked for during one event-loop turn together, at its end, so
// nats.js writes them to the socket in one go. What callers rely on: order, and each its own outcome.

describe('coalescePublishes', () => {
  it('starts the publishes of one turn together at its end, in the order asked, each with its own outcome', async () => {
    const started: string[] = []
    const publish = coalescePublishes(async (subject: string) => {
      started.push(subject)
      if (subject === 'bad') throw new Error('refused')
    })
    const a = publish('a')
    const bad = publish('bad')
    const b = publish('b')
    expect(started).toEqual([]) // nothing before the turn ends
    await expect(a).resolves.toBeUndefined()
    await expect(bad).rejects.toThrow('refused')
    await expect(b).resolves.toBeUndefined()
    expect(started).toEqual(['a', 'bad', 'b'])
  })

  it('keeps the order across turns: a later turn starts after the earlier one', async () => {
    const started: number[] = []
    const publish = coalescePublishes(async (n: number) => void started.push(n))
    const first = [publish(1), publish(2)]
    await new Promise((r) => setImmediate(r))
    const second = [publish(3)]
    await Promise.all([...first, ...second])
    expect(started).toEqual([1, 2, 3])
  })
})
