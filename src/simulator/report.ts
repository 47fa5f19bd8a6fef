import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {renderBarChart, renderLineChart} from '../report/svg-chart.js'
import {decodeHistogram, type LatencySummaryMs, summarize} from './histograms.js'
import {lossOf, passed, type SliceResult} from './types.js'

// The run report: a JSON document (the merged result plus a summary), Markdown tables and SVG charts.

export interface RunSummary {
  runId: string
  scenario: string
  /** True when the audit found no loss (missing, duplicated, live misses, seq conflicts) and nothing was left unverified. */
  ok: boolean
  loss: number
  users: number
  devices: number
  slices: number
  durationSec: number
  latencyMs: {delivery: LatencySummaryMs; ack: LatencySummaryMs; connect: LatencySummaryMs}
  throughput: {
    /** Acknowledged messages per second over the steady phase. */
    steadyAckedPerSec: number
    /** Deliveries (message events at recipient devices) per second over the steady phase. */
    steadyDeliveredPerSec: number
    peakAckedPerSec: number
  }
  audit: SliceResult['audit']
  counters: SliceResult['counters']
  errorsByCode: Record<string, number>
  resources: SliceResult['resources']
}

export interface RunReport {
  summary: RunSummary
  result: SliceResult
}

export function summarizeRun(result: SliceResult): RunSummary {
  const loss = lossOf(result.audit)
  const steady = steadyBuckets(result)
  const steadySecs = Math.max(1, steady.length)
  return {
    runId: result.runId,
    scenario: result.scenario,
    ok: passed(result.audit),
    loss,
    users: result.users,
    devices: result.devices,
    slices: result.slices,
    durationSec: Math.round(result.durationMs / 100) / 10,
    latencyMs: {
      delivery: summarize(decodeHistogram(result.histograms.delivery)),
      ack: summarize(decodeHistogram(result.histograms.ack)),
      connect: summarize(decodeHistogram(result.histograms.connect)),
    },
    throughput: {
      steadyAckedPerSec: round1(steady.reduce((a, b) => a + b.acked, 0) / steadySecs),
      steadyDeliveredPerSec: round1(steady.reduce((a, b) => a + b.delivered, 0) / steadySecs),
      peakAckedPerSec: result.timeline.reduce((m, b) => Math.max(m, b.acked), 0),
    },
    audit: result.audit,
    counters: result.counters,
    errorsByCode: result.errorsByCode,
    resources: result.resources,
  }
}

/** Writes report.json, report.md and the charts into `dir`; returns the file paths. */
export async function writeReport(dir: string, result: SliceResult): Promise<{summary: RunSummary; files: string[]}> {
  await mkdir(dir, {recursive: true})
  const summary = summarizeRun(result)
  const charts = renderCharts(result)
  const files: string[] = []
  const write = async (name: string, text: string) => {
    const path = join(dir, name)
    await writeFile(path, text)
    files.push(path)
  }
  await write('report.json', JSON.stringify({summary, result} satisfies RunReport, null, 2) + '\n')
  await write('report.md', renderMarkdown(summary, Object.keys(charts)))
  for (const [name, svg] of Object.entries(charts)) await write(name, svg)
  return {summary, files}
}

export function renderCharts(result: SliceResult): Record<string, string> {
  const t0 = result.timeline[0]?.at ?? 0
  const withDelivery = result.timeline.filter((b) => b.delivery)
  const percentile = (p: number) =>
    withDelivery.map((b): [number, number] => [b.at - t0, decodeHistogram(b.delivery!).getValueAtPercentile(p) / 1000])
  const s = summarizeRun(result)
  return {
    'latency.svg': renderLineChart({
      title: 'Delivery latency over time (send to recipient device)',
      xLabel: 'seconds since start',
      yLabel: 'ms',
      series: [
        {name: 'p50', points: percentile(50)},
        {name: 'p99', points: percentile(99)},
      ],
    }),
    'throughput.svg': renderLineChart({
      title: 'Throughput over time',
      xLabel: 'seconds since start',
      yLabel: 'per second',
      series: [
        {name: 'sent', points: result.timeline.map((b): [number, number] => [b.at - t0, b.sent])},
        {name: 'acked', points: result.timeline.map((b): [number, number] => [b.at - t0, b.acked])},
        {name: 'delivered (live, first copy)', points: result.timeline.map((b): [number, number] => [b.at - t0, b.delivered])},
      ],
    }),
    'connections.svg': renderLineChart({
      title: 'Open connections',
      xLabel: 'seconds since start',
      yLabel: 'connections',
      series: [{name: 'connections', points: result.timeline.map((b): [number, number] => [b.at - t0, b.connections])}],
    }),
    'latency-percentiles.svg': renderBarChart({
      title: 'Delivery latency percentiles (whole run)',
      yLabel: 'ms',
      bars: [
        {label: 'p50', value: s.latencyMs.delivery.p50},
        {label: 'p95', value: s.latencyMs.delivery.p95},
        {label: 'p99', value: s.latencyMs.delivery.p99},
        {label: 'p99.9', value: s.latencyMs.delivery.p999},
      ],
    }),
  }
}

export function renderMarkdown(s: RunSummary, charts: string[] = []): string {
  const lat = (name: string, l: LatencySummaryMs) => `| ${name} | ${l.count} | ${l.p50} | ${l.p95} | ${l.p99} | ${l.p999} | ${l.max} |`
  const a = s.audit
  const lines = [
    `# msgr sim run ${s.runId}`,
    '',
    `**${s.ok ? 'PASS: no loss' : s.loss > 0 ? `FAIL: ${s.loss} lost` : `FAIL: ${s.audit.unverified} deliveries could not be checked`}** — scenario \`${s.scenario}\`, ${s.users} users, ${s.devices} devices, ${s.slices} slice(s), ${s.durationSec} s.`,
    '',
    '## Latency (ms)',
    '',
    '| measure | samples | p50 | p95 | p99 | p99.9 | max |',
    '|---|---:|---:|---:|---:|---:|---:|',
    lat('delivery (send → each recipient device)', s.latencyMs.delivery),
    lat('ack (send → durable reply)', s.latencyMs.ack),
    lat('connect (upgrade → hello)', s.latencyMs.connect),
    '',
    '## Throughput',
    '',
    `| steady acked/s | steady delivered/s | peak acked/s |`,
    `|---:|---:|---:|`,
    `| ${s.throughput.steadyAckedPerSec} | ${s.throughput.steadyDeliveredPerSec} | ${s.throughput.peakAckedPerSec} |`,
    '',
    '## Loss audit',
    '',
    '| acknowledged messages | expected deliveries | live | by sync | **missing** | **duplicated** | **live misses** | **seq conflicts** | *unverified* | out of order | redelivered |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${a.messages} | ${a.expected} | ${a.deliveredLive} | ${a.recoveredBySync} | ${a.missing} | ${a.duplicated} | ${a.liveMisses} | ${a.seqConflicts} | ${a.unverified ?? 0} | ${a.outOfOrder} | ${a.redelivered} |`,
    '',
    'Bold columns are loss and fail the run; unverified deliveries (devices the final sync could not reach) fail it too. See docs/simulator.md for what each one counts.',
    '',
    '## Counters',
    '',
    '| counter | value |',
    '|---|---:|',
    ...Object.entries(s.counters).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '## Errors by code',
    '',
    ...(Object.keys(s.errorsByCode).length === 0
      ? ['None.']
      : ['| code | count |', '|---|---:|', ...Object.entries(s.errorsByCode).sort(([, x], [, y]) => y - x).map(([k, v]) => `| ${k} | ${v} |`)]),
    '',
    '## Resources',
    '',
    '| figure | value |',
    '|---|---:|',
    `| client peak RSS (sum over slices) | ${mib(s.resources.client.rssBytesPeak)} |`,
    `| client peak heap | ${mib(s.resources.client.heapUsedBytesPeak)} |`,
    `| client CPU user / system | ${s.resources.client.cpuUserMs} ms / ${s.resources.client.cpuSystemMs} ms |`,
    `| peak connections | ${s.resources.client.connectionsPeak} |`,
    ...(s.resources.server
      ? [
          `| server CPU over the traffic (target node) | ${s.resources.server.cpuSeconds ?? '-'} s |`,
          `| server CPU per acked message | ${s.resources.server.cpuMsPerMessage ?? '-'} ms |`,
          `| server RSS | ${s.resources.server.rssBytes === undefined ? '-' : mib(s.resources.server.rssBytes)} |`,
          `| server RSS growth per connection | ${s.resources.server.rssBytesPerConnection ?? '-'} B |`,
        ]
      : []),
    '',
    ...(charts.length ? ['## Charts', '', ...charts.map((c) => `![${c}](${c})`), ''] : []),
  ]
  return lines.join('\n')
}

/** Timeline seconds of the steady phase: the busiest stretch of steadyMs (falls back to all seconds with acks). */
function steadyBuckets(result: SliceResult): SliceResult['timeline'] {
  const n = Math.round(result.steadyMs / 1000)
  const t = result.timeline
  if (n <= 0 || n >= t.length) return t.filter((b) => b.acked > 0)
  let best = 0
  let bestSum = -1
  let sum = 0
  for (let i = 0; i < t.length; i++) {
    sum += t[i]!.acked
    if (i >= n) sum -= t[i - n]!.acked
    if (i >= n - 1 && sum > bestSum) {
      bestSum = sum
      best = i - n + 1
    }
  }
  return t.slice(best, best + n)
}

function round1(v: number): number {
  return Math.round(v * 10) / 10
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
