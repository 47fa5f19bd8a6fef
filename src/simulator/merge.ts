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

export function mergeTimelines(timelines: readonly (readonly TimelineBucket[])[]): TimelineBucket[] {
  const byAt = new Map<number, TimelineBucket[]>()
  for (const timeline of timelines) for (const b of ownSeconds(timeline)) {
      const list = byAt.get(b.at)
      if (list) list.push(b)
      else byAt.set(b.at, [b])
    }
  return [...byAt.entries()]
    .sort(([a], [b]) => a - b)
    .map(([at, buckets]) => {
      const delivery = buckets.some((b) => b.delivery) ? mergeEncoded(buckets.map((b) => b.delivery)) : undefined
      return {
        at,
        sent: sum(buckets.map((b) => b.sent)),
        acked: sum(buckets.map((b) => b.acked)),
        delivered: sum(buckets.map((b) => b.delivered)),
        errors: sum(buckets.map((b) => b.errors)),
        connections: sum(buckets.map((b) => b.connections)),
        ...(delivery ? {delivery} : {}),
      }
    })
}

/**
 * One bucket per second of one slice. A slice whose event loop lagged may close two buckets in the same
 * epoch second: their counters add, but `connections` is a gauge, so the later reading stands (adding
 * them counted one slice's sockets twice).
 */
function ownSeconds(timeline: readonly TimelineBucket[]): TimelineBucket[] {
  const out: TimelineBucket[] = []
  for (const b of timeline) {
    const last = out.at(-1)
    if (last?.at !== b.at) {
      out.push(b)
      continue
    }
    const delivery = last.delivery || b.delivery ? mergeEncoded([last.delivery, b.delivery]) : undefined
    out[out.length - 1] = {
      at: b.at,
      sent: last.sent + b.sent,
      acked: last.acked + b.acked,
      delivered: last.delivered + b.delivered,
      errors: last.errors + b.errors,
      connections: b.connections,
      ...(delivery ? {delivery} : {}),
    }
  }
  return out
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
