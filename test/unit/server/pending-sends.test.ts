import {afterEach, describe, expect, it, vi} from 'vitest'

import {decodeJson, type IngestEnvelope, type SendOutcome, sendKey} from '../../../src/core/envelope.js'
import {partitionOf} from '../../../src/core/ids.js'
import type {Bus, IngestConsumer} from '../../../src/core/ports.js'
import {createPendingSends} from '../../../src/server/gateway/pending-sends.js'
import {MsgrError} from '../../../src/errors.js'

const PARTITIONS = 16
const CONV = '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b'

afterEach(() => {
  vi.useRealTimers()
})

describe('createPendingSends', () => {
  it('publishes the envelope to its partition and resolves with the outcome', async () => {
    const bus = fakeBus()
    const pending = createPendingSends({bus, partitions: PARTITIONS, timeoutMs: 10_000})
    const e = envelope('c-1')
    const promise = pending.submit(e)
    expect(pending.size()).toBe(1)
    expect(bus.published).toHaveLength(1)
    expect(bus.published[0]!.partition).toBe(partitionOf(CONV, PARTITIONS))
    expect(decodeJson<IngestEnvelope>(bus.published[0]!.data)).toEqual(e)

    const outcome = success('c-1')
    pending.resolve(outcome)
    await expect(promise).resolves.toEqual(outcome)
    expect(pending.size()).toBe(0)
  })

  it('concurrent submits of the same key publish once and all get the same outcome', async () => {
    const bus = fakeBus()
    const pending = createPendingSends({bus, partitions: PARTITIONS, timeoutMs: 10_000})
    const promises = [pending.submit(envelope('dup')), pending.submit(envelope('dup')), pending.submit(envelope('dup'))]
    const other = pending.submit(envelope('other'))
    expect(bus.published).toHaveLength(2)
    expect(pending.size()).toBe(2)

    const outcome = success('dup')
    pending.resolve(outcome)
    const results = await Promise.all(promises)
    for (const result of results) expect(result).toBe(outcome)
    expect(pending.size()).toBe(1)

    let otherSettled = false
    void other.then(() => (otherSettled = true))
    await Promise.resolve()
    expect(otherSettled).toBe(false)
    pending.resolve(success('other'))
    await expect(other).resolves.toMatchObject({key: keyOf('other'), ok: true})
  })

  it('the same clientMsgId from another sender is a different key', () => {
    const bus = fakeBus()
    const pending = createPendingSends({bus, partitions: PARTITIONS, timeoutMs: 10_000})
    void pending.submit(envelope('same'))
    void pending.submit({...envelope('same'), sender: 'someone-else'})
    expect(bus.published).toHaveLength(2)
    expect(pending.size()).toBe(2)
  })

  it('a retry after the outcome publishes again', async () => {
    const bus = fakeBus()
    const pending = createPendingSends({bus, partitions: PARTITIONS, timeoutMs: 10_000})
    const first = pending.submit(envelope('r'))
    pending.resolve(success('r'))
    await first
    const second = pending.submit(envelope('r'))
    expect(bus.published).toHaveLength(2)
    pending.resolve(success('r', 5))
    await expect(second).resolves.toMatchObject({seq: 5})
  })

  it('an outcome nobody waits for is ignored', () => {
    const pending = createPendingSends({bus: fakeBus(), partitions: PARTITIONS, timeoutMs: 10_000})
    expect(() => pending.resolve(success('nobody'))).not.toThrow()
    expect(pending.size()).toBe(0)
  })

  it('resolves every waiter with timeout when no outcome arrives in time', async () => {
    vi.useFakeTimers()
    const pending = createPendingSends({bus: fakeBus(), partitions: PARTITIONS, timeoutMs: 5_000})
    const a = pending.submit(envelope('slow'))
    const b = pending.submit(envelope('slow'))
    let settled = false
    void a.then(() => (settled = true))

    await vi.advanceTimersByTimeAsync(4_999)
    expect(settled).toBe(false)
    expect(pending.size()).toBe(1)

    await vi.advanceTimersByTimeAsync(1)
    const expected = {key: keyOf('slow'), ok: false, error: {code: 'timeout', message: expect.any(String)}}
    await expect(a).resolves.toEqual(expected)
    await expect(b).resolves.toEqual(expected)
    expect(pending.size()).toBe(0)

    // A late outcome after the timeout changes nothing.
    expect(() => pending.resolve(success('slow'))).not.toThrow()
    expect(pending.size()).toBe(0)
  })

  it('an outcome clears its timer', async () => {
    vi.useFakeTimers()
    const pending = createPendingSends({bus: fakeBus(), partitions: PARTITIONS, timeoutMs: 5_000})
    const p = pending.submit(envelope('fast'))
    expect(vi.getTimerCount()).toBe(1)
    pending.resolve(success('fast'))
    await expect(p).resolves.toMatchObject({ok: true})
    expect(vi.getTimerCount()).toBe(0)
  })

  it('a publish failure resolves every waiter with unavailable', async () => {
    vi.useFakeTimers()
    const bus = fakeBus({fail: true})
    const pending = createPendingSends({bus, partitions: PARTITIONS, timeoutMs: 5_000})
    const a = pending.submit(envelope('x'))
    const b = pending.submit(envelope('x'))
    const expected = {key: keyOf('x'), ok: false, error: {code: 'unavailable', message: expect.any(String)}}
    await expect(a).resolves.toEqual(expected)
    await expect(b).resolves.toEqual(expected)
    expect(bus.published).toHaveLength(1)
    expect(pending.size()).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('a publish that fails after the outcome arrived changes nothing', async () => {
    const bus = fakeBus({manual: true})
    const pending = createPendingSends({bus, partitions: PARTITIONS, timeoutMs: 10_000})
    const p = pending.submit(envelope('late'))
    const outcome = success('late')
    pending.resolve(outcome)
    bus.published[0]!.reject(new Error('bus down'))
    await expect(p).resolves.toBe(outcome)
  })

  it('failAll fails everything still waiting with the given error and clears timers', async () => {
    vi.useFakeTimers()
    const pending = createPendingSends({bus: fakeBus(), partitions: PARTITIONS, timeoutMs: 5_000})
    const promises = [pending.submit(envelope('a')), pending.submit(envelope('a')), pending.submit(envelope('b'))]
    pending.failAll(new MsgrError('unavailable', 'draining'))
    const results = await Promise.all(promises)
    expect(results).toEqual([
      {key: keyOf('a'), ok: false, error: {code: 'unavailable', message: 'draining'}},
      {key: keyOf('a'), ok: false, error: {code: 'unavailable', message: 'draining'}},
      {key: keyOf('b'), ok: false, error: {code: 'unavailable', message: 'draining'}},
    ])
    expect(pending.size()).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    expect(() => pending.failAll(new MsgrError('unavailable', 'again'))).not.toThrow()
  })
})

interface Published {
  partition: number
  data: Uint8Array
  resolve: () => void
  reject: (error: Error) => void
}

/** Records ingest publishes; `fail` rejects them at once, `manual` leaves them for the test to settle. */
function fakeBus(options: {fail?: boolean; manual?: boolean} = {}): Bus & {published: Published[]} {
  const published: Published[] = []
  return {
    kind: 'memory',
    published,
    publishIngest(partition, data) {
      return new Promise<void>((resolve, reject) => {
        published.push({partition, data, resolve, reject})
        if (options.fail) reject(new Error('bus down'))
        else if (!options.manual) resolve()
      })
    },
    async consumeIngest(): Promise<IngestConsumer> {
      throw new Error('not used')
    },
    publishNode() {},
    subscribeNode() {
      return () => {}
    },
    async flush() {},
    healthy: () => true,
    async close() {},
  }
}

function envelope(clientMsgId: string): IngestEnvelope {
  return {v: 1, conv: CONV, sender: 'alice', senderDevice: 'phone', clientMsgId, kind: 'text', body: 'hi', gw: 'gw-1', at: 0}
}

function keyOf(clientMsgId: string): string {
  return sendKey(CONV, 'alice', clientMsgId)
}

function success(clientMsgId: string, seq = 1): SendOutcome {
  return {key: keyOf(clientMsgId), ok: true, seq, messageId: `m-${seq}`, ts: '2030-01-01T00:00:00.000Z', duplicate: false}
}
