import {describe, expect, it} from 'vitest'

import {decodeHistogram, encodeHistogram, newHistogram, recordMs, summarize} from '../../../src/simulator/histograms.js'
import {mergeResults} from '../../../src/simulator/merge.js'
import {emptyCounters} from '../../../src/simulator/recorder.js'
import {lossOf, type SliceResult} from '../../../src/simulator/types.js'

function slice(values: number[], extra: Partial<SliceResult> = {}, at = 1000): SliceResult {
  const h = newHistogram()
  for (const v of values) recordMs(h, v)
  const enc = encodeHistogram(h)
  return {
    version: 1,
    runId: 'r',
    scenario: 'seed',
    slices: 1,
    users: 10,
    devices: 17,
    startedAt: new Date(at * 1000).toISOString(),
    endedAt: new Date(at * 1000 + 5000).toISOString(),
    durationMs: 5000,
    steadyMs: 3000,
    histograms: {delivery: enc, ack: enc, connect: enc},
    counters: {...emptyCounters(), sent: values.length, acked: values.length},
    errorsByCode: {timeout: 1},
    audit: {messages: values.length, expected: 2 * values.length, deliveredLive: 2 * values.length, recoveredBySync: 0, missing: 0, unverified: 0, duplicated: 0, outOfOrder: 0, liveMisses: 0, redelivered: 0, seqConflicts: 0},
    timeline: [{at, sent: 1, acked: 1, delivered: 2, errors: 0, connections: 17, delivery: enc}],
    resources: {client: {rssBytesPeak: 100, heapUsedBytesPeak: 50, cpuUserMs: 10, cpuSystemMs: 1, connectionsPeak: 17}},
    ...extra,
  }
}

describe('mergeResults', () => {
  it('adds histograms exactly: the merge equals one histogram of all values', () => {
    const a = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
    const b = [100, 200, 300, 400.5, 1000, 0.25]
    const merged = mergeResults([slice(a), slice(b)])
    const all = newHistogram()
    for (const v of [...a, ...b]) recordMs(all, v)
    // Bucket for bucket the same (a decoded histogram reports the top of the max's bucket, hence both decoded).
    expect(summarize(decodeHistogram(merged.histograms.delivery))).toEqual(summarize(decodeHistogram(encodeHistogram(all))))
    expect(merged.histograms.delivery).toBe(encodeHistogram(decodeHistogram(encodeHistogram(all))))
    expect(decodeHistogram(merged.histograms.ack).totalCount).toBe(16)
  })

  it('adds counters, errors, audit counts, resources and timeline seconds', () => {
    const lossy = slice([5], {audit: {...slice([5]).audit, missing: 2, liveMisses: 1}, errorsByCode: {timeout: 2, forbidden: 1}})
    const merged = mergeResults([slice([1, 2]), lossy, slice([3], {}, 1001)])
    expect(merged.slices).toBe(3)
    expect(merged.users).toBe(30)
    expect(merged.counters.sent).toBe(4)
    expect(merged.errorsByCode).toEqual({timeout: 4, forbidden: 1})
    expect(merged.audit).toMatchObject({messages: 4, missing: 2, liveMisses: 1})
    expect(lossOf(merged.audit)).toBe(3)
    expect(merged.resources.client.connectionsPeak).toBe(51)
    expect(merged.timeline.map((b) => [b.at, b.sent, b.connections])).toEqual([
      [1000, 2, 34],
      [1001, 1, 17],
    ])
    expect(decodeHistogram(merged.timeline[0]!.delivery!).totalCount).toBe(3)
    expect(merged.durationMs).toBe(6000)
  })

  it('is the identity on one result and refuses none', () => {
    const one = slice([1])
    expect(mergeResults([one])).toBe(one)
    expect(() => mergeResults([])).toThrow(/no results/)
  })

  it('round-trips through JSON (slices travel between processes)', () => {
    const r = slice([1, 2, 3])
    const back = JSON.parse(JSON.stringify(r)) as SliceResult
    expect(summarize(decodeHistogram(back.histograms.delivery))).toEqual(summarize(decodeHistogram(r.histograms.delivery)))
  })
})

describe('timelines', () => {
  it('two buckets of one slice in the same second add their counters, but not their connections', async () => {
    const {mergeTimelines} = await import('../../../src/simulator/merge.js')
    const lagged = [
      {at: 100, sent: 1, acked: 1, delivered: 1, errors: 0, connections: 10},
      {at: 100, sent: 2, acked: 2, delivered: 3, errors: 1, connections: 12},
      {at: 101, sent: 1, acked: 1, delivered: 1, errors: 0, connections: 12},
    ]
    const other = [{at: 100, sent: 1, acked: 1, delivered: 1, errors: 0, connections: 5}]
    expect(mergeTimelines([lagged, other])).toEqual([
      {at: 100, sent: 4, acked: 4, delivered: 5, errors: 1, connections: 17},
      {at: 101, sent: 1, acked: 1, delivered: 1, errors: 0, connections: 12},
    ])
  })
})
