import {mergeEncoded} from './histograms.js'
import type {AuditCounts, ResourceFigures, SliceCounters, SliceResult, TimelineBucket} from './types.js'

// Merging slices is exact: histograms add, counters add, timelines add by epoch second.

export function mergeResults(results: readonly SliceResult[]): SliceResult {
  if (results.length === 0) throw new Error('mergeResults: no results to merge')
  if (results.length === 1) return results[0]!
  const first = results[0]!
  const startedAt = min(results.map((r) => Date.parse(r.startedAt)))
  const endedAt = max(results.map((r) => Date.parse(r.endedAt)))
  return {
    version: 1,
    runId: first.runId,
    scenario: first.scenario,
    slices: sum(results.map((r) => r.slices)),
    users: sum(results.map((r) => r.users)),
    devices: sum(results.map((r) => r.devices)),
    startedAt: new Date(startedAt).toISOString(),
    endedAt: new Date(endedAt).toISOString(),
    durationMs: endedAt - startedAt,
    steadyMs: max(results.map((r) => r.steadyMs)),
    histograms: {
      delivery: mergeEncoded(results.map((r) => r.histograms.delivery)),
      ack: mergeEncoded(results.map((r) => r.histograms.ack)),
      connect: mergeEncoded(results.map((r) => r.histograms.connect)),
    },
    counters: addRecords(results.map((r) => r.counters)) as unknown as SliceCounters,
    errorsByCode: addRecords(results.map((r) => r.errorsByCode)),
    audit: addRecords(results.map((r) => r.audit)) as unknown as AuditCounts,
    timeline: mergeTimelines(results.map((r) => r.timeline)),
    resources: mergeResources(results.map((r) => r.resources)),
  }
}

/**
 * Counters of the buckets of one second add, over slices and within one: a slice whose event loop lagged
 * may close two buckets in the same epoch second. `connections` is a gauge: per slice its last reading of
 * that second stands, and those add over slices (adding every bucket counted a slice's sockets twice).
 */
export function mergeTimelines(timelines: readonly (readonly TimelineBucket[])[]): TimelineBucket[] {
  const byAt = new Map<number, {buckets: TimelineBucket[]; connections: Map<number, number>}>()
  timelines.forEach((timeline, slice) => {
    for (const b of timeline) {
      let second = byAt.get(b.at)
      if (!second) byAt.set(b.at, (second = {buckets: [], connections: new Map()}))
      second.buckets.push(b)
      second.connections.set(slice, b.connections)
    }
  })
  return [...byAt.entries()]
    .sort(([a], [b]) => a - b)
    .map(([at, {buckets, connections}]) => {
      const delivery = buckets.some((b) => b.delivery) ? mergeEncoded(buckets.map((b) => b.delivery)) : undefined
      return {
        at,
        sent: sum(buckets.map((b) => b.sent)),
        acked: sum(buckets.map((b) => b.acked)),
        delivered: sum(buckets.map((b) => b.delivered)),
        errors: sum(buckets.map((b) => b.errors)),
        connections: sum([...connections.values()]),
        ...(delivery ? {delivery} : {}),
      }
    })
}

function mergeResources(all: readonly ResourceFigures[]): ResourceFigures {
  const client = addRecords(all.map((r) => r.client)) as unknown as ResourceFigures['client']
  // Server figures describe the one target node; slices of one run read the same node, so keep the first.
  const server = all.find((r) => r.server)?.server
  return server ? {client, server} : {client}
}

function addRecords(records: readonly object[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const record of records) {
    for (const [key, value] of Object.entries(record)) if (typeof value === 'number') out[key] = (out[key] ?? 0) + value
  }
  return out
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0)
}

function min(values: readonly number[]): number {
  return values.reduce((a, b) => Math.min(a, b), Infinity)
}

function max(values: readonly number[]): number {
  return values.reduce((a, b) => Math.max(a, b), -Infinity)
}
