import {describe, expect, it} from 'vitest'

import {encodeHistogram, newHistogram, recordMs} from '../../../src/simulator/histograms.js'
import {emptyCounters} from '../../../src/simulator/recorder.js'
import {renderCharts, renderMarkdown, summarizeRun} from '../../../src/simulator/report.js'
import {parseServerSample} from '../../../src/simulator/server-metrics.js'
import type {AuditCounts, SliceResult} from '../../../src/simulator/types.js'

const cleanAudit: AuditCounts = {messages: 10, expected: 30, deliveredLive: 28, recoveredBySync: 2, missing: 0, unverified: 0, duplicated: 0, outOfOrder: 0, liveMisses: 0, redelivered: 0, seqConflicts: 0}

function result(audit: AuditCounts = cleanAudit): SliceResult {
  const h = newHistogram()
  for (let i = 1; i <= 100; i++) recordMs(h, i)
  const enc = encodeHistogram(h)
  const timeline = Array.from({length: 10}, (_, i) => ({at: 5000 + i, sent: i < 2 ? 1 : 5, acked: i < 2 ? 1 : 5, delivered: 12, errors: 0, connections: 20, delivery: enc}))
  return {
    version: 1,
    runId: 'r1',
    scenario: 'seed',
    slices: 1,
    users: 12,
    devices: 20,
    startedAt: new Date(5_000_000).toISOString(),
    endedAt: new Date(5_010_000).toISOString(),
    durationMs: 10_000,
    steadyMs: 8000,
    histograms: {delivery: enc, ack: enc, connect: enc},
    counters: emptyCounters(),
    errorsByCode: {timeout: 3},
    audit,
    timeline,
    resources: {client: {rssBytesPeak: 1, heapUsedBytesPeak: 1, cpuUserMs: 1, cpuSystemMs: 1, connectionsPeak: 20}},
  }
}

describe('run report', () => {
  it('summarizes latency percentiles, steady throughput and the verdict', () => {
    const s = summarizeRun(result())
    expect(s.ok).toBe(true)
    expect(s.latencyMs.delivery.count).toBe(100)
    expect(s.latencyMs.delivery.p50).toBeCloseTo(50, 0)
    expect(s.latencyMs.delivery.p99).toBeCloseTo(99, 0)
    expect(s.throughput.steadyAckedPerSec).toBe(5) // the busiest 8 s
    expect(s.throughput.peakAckedPerSec).toBe(5)
  })

  it('fails on loss and on unverified deliveries, and says which', () => {
    const lost = summarizeRun(result({...cleanAudit, missing: 1, liveMisses: 2}))
    expect(lost).toMatchObject({ok: false, loss: 3})
    expect(renderMarkdown(lost)).toContain('FAIL: 3 lost')
    const unchecked = summarizeRun(result({...cleanAudit, unverified: 4}))
    expect(unchecked).toMatchObject({ok: false, loss: 0})
    expect(renderMarkdown(unchecked)).toContain('FAIL: 4 deliveries could not be checked')
    expect(renderMarkdown(summarizeRun(result()), ['latency.svg'])).toMatch(/PASS: no loss[\s\S]*\| timeout \| 3 \|[\s\S]*!\[latency\.svg\]\(latency\.svg\)/)
  })

  it('draws latency and throughput charts from the timeline', () => {
    const charts = renderCharts(result())
    expect(Object.keys(charts)).toEqual(['latency.svg', 'throughput.svg', 'connections.svg', 'latency-percentiles.svg'])
    expect(charts['latency.svg']).toContain('>p99</text>')
    expect(charts['throughput.svg']).toContain('>acked</text>')
  })
})

describe('server figures from /metrics', () => {
  it('reads CPU, RSS and open connections whatever the metric prefix', () => {
    const text = [
      '# HELP msgr_process_process_cpu_seconds_total x',
      'msgr_process_process_cpu_seconds_total 12.5',
      'msgr_process_process_resident_memory_bytes 1048576',
      'msgr_ws_connections 40',
      'msgr_ws_connects_total 99',
    ].join('\n')
    expect(parseServerSample(text)).toEqual({cpuSeconds: 12.5, rssBytes: 1048576, connections: 40})
  })
})
