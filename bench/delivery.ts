import {type ChildProcess, fork} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import * as hdr from 'hdr-histogram-js'

import type {CodecName} from '../src/protocol/codec-wire.js'
import {renderBarChart, renderLineChart} from '../src/report/svg-chart.js'
import {findServices} from './cluster.js'
import type {ClientConversation, ClientUser, FromClient, StepReport, TargetKind, ToClient} from './delivery-client.js'
import {cpuSeconds, type MemoryFigures, prepareEmbeddedTemplate, readMemory, type RunningTarget, startTarget, type TargetSpec} from './delivery-servers.js'
import {fmtInt, fmtRatio, progress, round} from './measure.js'
import type {Table} from './table.js'

// The same delivery workload through four servers, each in its own process, with the clients in other
// processes: (a) a bare `ws` fanout server — the limit; (b) Socket.IO with the Redis adapter — the usual
// Node peer; (c) `msgr serve all`; (d) msgr gateway + worker + control plane on NATS/Postgres/Redis.
// msgr's deliveries are persisted (stored by the worker before fanout); the peers store nothing.

export interface DeliveryOptions {
  clients: number
  groupSize: number
  /** Share of clients in 1:1 pairs; the rest are in groups of `groupSize`. */
  pairShare: number
  clientProcesses: number
  /** Connected first and taken as the memory baseline, so warm-up costs are not counted per connection. */
  warmConnections: number
  /** Ramp: offered deliveries/s of the first step, factor per step, most steps (a safety cap: every target should saturate well before it). */
  startRate: number
  rampFactor: number
  maxSteps: number
  /** Bisection steps between a target's last good rate and its first bad one. */
  refineSteps: number
  stepMs: number
  drainMs: number
  /** The latency run at `latencyAt` × the highest rate delivered. */
  latencyAt: number
  latencyMs: number
  /** Variants beside the four targets: msgr all with MessagePack clients; idle memory with permessage-deflate. */
  variants: boolean
  cpuProfileDir?: string
  requireServices: boolean
}

export const DELIVERY_DEFAULTS: DeliveryOptions = {
  clients: Number(process.env.MSGR_BENCH_DELIVERY_CLIENTS ?? 1000),
  groupSize: 10,
  pairShare: 0.2,
  clientProcesses: 2,
  warmConnections: 100,
  startRate: 1000,
  rampFactor: 1.6,
  maxSteps: 16,
  refineSteps: 2,
  stepMs: 2000,
  drainMs: 3000,
  latencyAt: 0.8,
  latencyMs: 4000,
  variants: process.env.MSGR_BENCH_DELIVERY_VARIANTS !== '0',
  cpuProfileDir: process.env.MSGR_BENCH_CPU_PROF_DIR,
  requireServices: process.env.MSGR_REQUIRE_SERVICES === '1',
}

export const TARGETS = {
  p95Ms: 100,
  p99Ms: 200,
  ofLimit: 0.5,
  ofPeer: 1.5,
  bytesPerIdleConnection: 3 * 1024,
  deliveriesPerCoreSecond: 12_500,
} as const

export interface Latency {
  samples: number
  p50: number
  p95: number
  p99: number
  max: number
}

export interface StepFigures {
  offeredPerSecond: number
  deliveriesPerSecond: number
  delivered: number
  expected: number
  sendErrors: number
  latency: Latency
  /** Server process CPU seconds used during the step (all processes of the target). */
  serverCpuSeconds: number
}

export interface TargetResult {
  name: string
  label: string
  kind: TargetKind
  codec: CodecName
  processes: string[]
  idleMemory: {connections: number; rssBytesPerConnection: number; heapBytesPerConnection: number; before: MemoryFigures; after: MemoryFigures}
  ramp: StepFigures[]
  /** Highest rate the target kept up with (delivered everything, p95 ≤ 500 ms): the ratios use this. */
  maxDeliveriesPerSecond: number
  /** Highest rate measured in any step, overloaded ones included (what it pushes while falling behind). */
  peakDeliveriesPerSecond: number
  /** Even the first step was past the knee: max is then that step's rate, measured under overload. */
  saturatedFromStart: boolean
  /** The ramp ended (maxSteps) before this target fell behind: its max is a lower bound. */
  neverSaturated: boolean
  /** Deliveries per server CPU-second at the highest rate (single process targets: per core). */
  deliveriesPerCpuSecond: number
  latencyRun?: StepFigures
  bytesPerFrame: number
}

export interface DeliveryResult {
  setup: {clients: number; conversations: number; groups: number; pairs: number; groupSize: number; deliveriesPerMessage: number; clientProcesses: number}
  targets: TargetResult[]
  memoryOnly: Array<{name: string; label: string; rssBytesPerConnection: number; heapBytesPerConnection: number; connections: number}>
  ratios: Record<string, number>
  checks: Array<{target: string; value: string; met: boolean}>
  skipped: string[]
  chart?: string
}

export interface Workload {
  /** Per client process: its users (global indexes) and conversations (local member indexes). */
  shares: Array<{users: number[]; conversations: ClientConversation[]}>
  groups: number
  pairs: number
  deliveriesPerMessage: number
}

export async function benchDelivery(options: DeliveryOptions = DELIVERY_DEFAULTS): Promise<{result: DeliveryResult; tables: Table[]}> {
  const workload = buildWorkload(options)
  const result: DeliveryResult = {
    setup: {
      clients: options.clients,
      conversations: workload.groups + workload.pairs,
      groups: workload.groups,
      pairs: workload.pairs,
      groupSize: options.groupSize,
      deliveriesPerMessage: round(workload.deliveriesPerMessage, 2),
      clientProcesses: options.clientProcesses,
    },
    targets: [],
    memoryOnly: [],
    ratios: {},
    checks: [],
    skipped: [],
  }
  const found = await findServices()
  const services = 'urls' in found ? found.urls : undefined
  if (!services) {
    const reason = `cannot reach ${'missing' in found ? found.missing.join(', ') : ''}`
    if (options.requireServices) throw new Error(`MSGR_REQUIRE_SERVICES=1 and ${reason}`)
    process.stdout.write(`\n!!! SKIPPING Socket.IO (Redis) and msgr on services: ${reason}\n`)
    result.skipped.push(`socketio, msgr-split: ${reason}`)
  }

  progress(`delivery: issuing ${fmtInt(options.clients)} users' tokens into an embedded data directory (copied for each msgr serve all)`)
  const template = await prepareEmbeddedTemplate(options.clients)
  const plan: PlanEntry[] = [
    {name: 'ws', label: '(a) bare ws fanout (limit)', spec: {kind: 'ws'}, codec: 'json'},
    ...(services ? [{name: 'socketio', label: '(b) Socket.IO + Redis adapter (peer)', spec: {kind: 'socketio', redis: services.redis} as TargetSpec, codec: 'json' as CodecName}] : []),
    {name: 'msgr-all', label: '(c) msgr serve all (PGlite)', spec: {kind: 'msgr-all', template, cpuProfileDir: options.cpuProfileDir}, codec: 'json'},
    ...(services ? [{name: 'msgr-split', label: '(d) msgr gateway+worker (NATS/PG/Redis)', spec: {kind: 'msgr-split', services} as TargetSpec, codec: 'json' as CodecName}] : []),
    ...(options.variants ? [{name: 'msgr-all-msgpack', label: '(c) msgr serve all, MessagePack clients', spec: {kind: 'msgr-all', template} as TargetSpec, codec: 'msgpack' as CodecName}] : []),
  ]
  const only = process.env.MSGR_BENCH_DELIVERY_TARGETS?.split(',').filter(Boolean)
  const lives: Live[] = []
  try {
    if (options.variants) {
      // Idle memory only, before the traffic targets start: permessage-deflate off and on.
      for (const compression of [false, true]) {
        const live = await setUp(
          {name: `msgr-all-idle-deflate-${compression ? 'on' : 'off'}`, label: `msgr serve all, permessage-deflate ${compression ? 'on' : 'off'}`, spec: {kind: 'msgr-all', template, compression}, codec: 'json'},
          workload,
          options,
        )
        await tearDown(live)
        const m = live.result.idleMemory
        result.memoryOnly.push({name: live.result.name, label: live.result.label, connections: m.connections, rssBytesPerConnection: m.rssBytesPerConnection, heapBytesPerConnection: m.heapBytesPerConnection})
      }
    }
    for (const entry of plan.filter((e) => !only || only.includes(e.name))) lives.push(await setUp(entry, workload, options))
    await runInterleaved(lives, options, workload)
  } finally {
    for (const live of lives) await tearDown(live).catch(() => {})
    template.remove()
  }
  result.targets = lives.map((l) => l.result)
  judge(result)
  result.chart = writeChart(result)
  writeFileSync(join(resultsDir(), 'delivery.json'), JSON.stringify(result, null, 2) + '\n')
  return {result, tables: toTables(result)}
}

export function buildWorkload(options: DeliveryOptions): Workload {
  const pairs = Math.floor((options.clients * options.pairShare) / 2)
  const groups = Math.floor((options.clients - pairs * 2) / options.groupSize)
  const shares = Array.from({length: options.clientProcesses}, () => ({users: [] as number[], conversations: [] as ClientConversation[]}))
  let nextUser = 0
  const sizes = [...Array.from({length: groups}, () => options.groupSize), ...Array.from({length: pairs}, () => 2)]
  sizes.forEach((size, k) => {
    const share = shares[k % shares.length]!
    const members: number[] = []
    for (let j = 0; j < size; j++) {
      members.push(share.users.length)
      share.users.push(nextUser++)
    }
    share.conversations.push({key: `c${k}`, members})
  })
  const deliveriesPerMessage = sizes.reduce((sum, size) => sum + size - 1, 0) / sizes.length
  return {shares, groups, pairs, deliveriesPerMessage}
}

export interface PlanEntry {
  name: string
  label: string
  spec: TargetSpec
  codec: CodecName
}

/** A target with its server(s) up and its clients connected, between steps. */
export interface Live {
  label: string
  target: RunningTarget
  clients: ClientProcess[]
  result: TargetResult
  stepNo: number
  bytes: number
  frames: number
  good?: StepFigures
  bad?: StepFigures
}

/** Starts the server(s), connects every client and measures idle memory on the way. */
export async function setUp(entry: PlanEntry, workload: Workload, options: DeliveryOptions): Promise<Live> {
  const label = `delivery/${entry.name}`
  const userCount = workload.shares.reduce((n, s) => n + s.users.length, 0)
  progress(`${label}: starting ${entry.label}${entry.spec.kind === 'msgr-split' ? ` (issuing ${fmtInt(userCount)} tokens first)` : ''}`)
  const target = await startTarget(entry.spec, userCount)
  const kind: TargetKind = entry.spec.kind === 'ws' ? 'ws' : entry.spec.kind === 'socketio' ? 'socketio' : 'msgr'
  const clients = workload.shares.map(() => new ClientProcess())
  try {
    workload.shares.forEach((share, p) =>
      clients[p]!.send({
        t: 'init',
        kind,
        url: target.url,
        codec: entry.codec,
        users: share.users.map((u) => target.users[u]!),
        conversations: share.conversations.map((c) => ({...c, members: [...c.members]})),
        seed: 1000 + p,
      }),
    )
    const measured = target.processes[0]!
    const warm = Math.ceil(options.warmConnections / clients.length)
    await Promise.all(clients.map((c) => c.ask({t: 'connect', count: warm}, 'connected')))
    await settle()
    const before = await readMemory(measured)
    const started = performance.now()
    const open = await Promise.all(clients.map((c) => c.ask({t: 'connect', count: Number.MAX_SAFE_INTEGER}, 'connected')))
    const total = open.reduce((n, m) => n + (m.t === 'connected' ? m.open : 0), 0)
    progress(`${label}: ${fmtInt(total)} sockets open in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    await settle()
    const after = await readMemory(measured)
    const idle = total - warm * clients.length
    const idleMemory = {
      connections: idle,
      rssBytesPerConnection: round((after.rss - before.rss) / idle, 0),
      heapBytesPerConnection: round((after.heapUsed + after.external - before.heapUsed - before.external) / idle, 0),
      before,
      after,
    }
    progress(`${label}: idle memory ${fmtInt(idleMemory.rssBytesPerConnection)} B RSS, ${fmtInt(idleMemory.heapBytesPerConnection)} B heap+external per connection`)
    const result: TargetResult = {
      name: entry.name,
      label: entry.label,
      kind,
      codec: entry.codec,
      processes: target.processes.map((p) => p.name),
      idleMemory,
      ramp: [],
      maxDeliveriesPerSecond: 0,
      peakDeliveriesPerSecond: 0,
      saturatedFromStart: false,
      neverSaturated: false,
      deliveriesPerCpuSecond: 0,
      bytesPerFrame: 0,
    }
    return {label, target, clients, result, stepNo: 0, bytes: 0, frames: 0}
  } catch (error) {
    await Promise.all(clients.map((c) => c.close()))
    await target.stop()
    throw error
  }
}

export async function tearDown(live: Live): Promise<void> {
  await Promise.all(live.clients.map((c) => c.close()))
  await live.target.stop()
}

/** One ramp step of one target, recorded in its result. */
async function rampStep(live: Live, offered: number, options: DeliveryOptions, workload: Workload): Promise<StepFigures> {
  const {figures, reports} = await runStep(live.clients, live.target, live.stepNo++, offered, options.stepMs, options, workload)
  live.result.ramp.push(figures)
  for (const r of reports) {
    live.bytes += r.bytes
    live.frames += r.frames
  }
  progress(
    `${live.label}: offered ${fmtInt(offered)}/s → ${fmtInt(figures.deliveriesPerSecond)} deliveries/s, p95 ${figures.latency.p95} ms, p99 ${figures.latency.p99} ms, ${fmtInt(figures.delivered)}/${fmtInt(figures.expected)}${saturated(figures) ? ' (saturated)' : ''}`,
  )
  return figures
}

/**
 * The traffic targets side by side: every ramp step runs on each target in turn, at the same offered
 * rate, so load from elsewhere on the machine hits all of them alike and the ratios stay meaningful.
 * Ramp until every target saturates (the limit too: a ramp that stops before the limit falls behind
 * understates it and flatters every ratio), then `refineSteps` bisection steps between each target's
 * last good rate and its first bad one, then the latency run at `latencyAt` of its max.
 */
async function runInterleaved(lives: Live[], options: DeliveryOptions, workload: Workload): Promise<void> {
  for (const live of lives) {
    await Promise.all(live.clients.map((c) => c.ask({t: 'prepare'}, 'prepared')))
    // Warm-up (JIT, pools, stream consumers, conversation state), not counted.
    await runStep(live.clients, live.target, live.stepNo++, options.startRate, 3000, options, workload)
  }
  let offered = options.startRate
  for (let i = 0; i < options.maxSteps && lives.some((l) => !l.bad); i++, offered *= options.rampFactor) {
    for (const live of lives.filter((l) => !l.bad)) {
      const figures = await rampStep(live, offered, options, workload)
      if (saturated(figures)) live.bad = figures
      else live.good = figures
    }
  }
  for (const live of lives) {
    for (let k = 0; k < options.refineSteps && live.good && live.bad; k++) {
      const figures = await rampStep(live, Math.sqrt(live.good.offeredPerSecond * live.bad.offeredPerSecond), options, workload)
      if (saturated(figures)) live.bad = figures
      else live.good = figures
    }
    const best = live.good ?? live.result.ramp[0]!
    const result = live.result
    result.saturatedFromStart = !live.good
    result.neverSaturated = !live.bad
    result.maxDeliveriesPerSecond = best.deliveriesPerSecond
    result.peakDeliveriesPerSecond = Math.max(...result.ramp.map((s) => s.deliveriesPerSecond))
    result.deliveriesPerCpuSecond = best.serverCpuSeconds > 0 ? round(best.delivered / best.serverCpuSeconds, 0) : 0
    result.bytesPerFrame = live.frames > 0 ? round(live.bytes / live.frames, 1) : 0
  }
  for (const live of lives) {
    const rate = live.result.maxDeliveriesPerSecond * options.latencyAt
    const {figures} = await runStep(live.clients, live.target, live.stepNo++, rate, options.latencyMs, options, workload)
    live.result.latencyRun = figures
    progress(`${live.label}: at ${Math.round(options.latencyAt * 100)}% (${fmtInt(rate)}/s): p50 ${figures.latency.p50} ms, p95 ${figures.latency.p95} ms, p99 ${figures.latency.p99} ms`)
  }
}

/** Past the knee: deliveries fall behind the offered rate or queues build up. */
function saturated(step: StepFigures): boolean {
  return step.delivered < step.expected * 0.98 || step.deliveriesPerSecond < step.offeredPerSecond * 0.85 || step.latency.p95 > 500
}

async function runStep(
  clients: ClientProcess[],
  target: RunningTarget,
  step: number,
  deliveriesPerSecond: number,
  durationMs: number,
  options: DeliveryOptions,
  workload: Workload,
): Promise<{figures: StepFigures; reports: StepReport[]}> {
  const messagesPerSecond = deliveriesPerSecond / workload.deliveriesPerMessage / clients.length
  const cpuBefore = target.processes.reduce((s, p) => s + cpuSeconds(p), 0)
  const answers = await Promise.all(clients.map((c) => c.ask({t: 'run', step, messagesPerSecond, durationMs, drainMs: options.drainMs, quiesceMs: 5_000}, 'step')))
  const cpu = target.processes.reduce((s, p) => s + cpuSeconds(p), 0) - cpuBefore
  const reports = answers.map((a) => (a as {report: StepReport}).report)
  const merged = hdr.build({lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3})
  for (const r of reports) {
    const h = hdr.decodeFromCompressedBase64(r.histogram)
    merged.add(h)
    h.destroy()
  }
  const ms = (us: number) => round(us / 1000, 2)
  const delivered = reports.reduce((n, r) => n + r.delivered, 0)
  const figures: StepFigures = {
    offeredPerSecond: round(deliveriesPerSecond, 0),
    deliveriesPerSecond: round(delivered / (Math.max(...reports.map((r) => r.elapsedMs)) / 1000), 0),
    delivered,
    expected: reports.reduce((n, r) => n + r.expected, 0),
    sendErrors: reports.reduce((n, r) => n + r.sendErrors, 0),
    latency: {samples: merged.totalCount, p50: ms(merged.getValueAtPercentile(50)), p95: ms(merged.getValueAtPercentile(95)), p99: ms(merged.getValueAtPercentile(99)), max: ms(merged.maxValue)},
    serverCpuSeconds: round(cpu, 2),
  }
  merged.destroy()
  return {figures, reports}
}

function judge(result: DeliveryResult): void {
  const by = new Map(result.targets.map((t) => [t.name, t]))
  const references = [
    {key: 'limit', ref: by.get('ws'), wanted: TARGETS.ofLimit, label: 'bare ws'},
    {key: 'peer', ref: by.get('socketio'), wanted: TARGETS.ofPeer, label: 'Socket.IO'},
  ]
  for (const name of ['msgr-all', 'msgr-split', 'msgr-all-msgpack']) {
    const t = by.get(name)
    if (!t) continue
    for (const {key, ref, wanted, label} of references) {
      if (!ref?.maxDeliveriesPerSecond) continue
      const ratio = t.maxDeliveriesPerSecond / ref.maxDeliveriesPerSecond
      result.ratios[`${name}/${key}`] = round(ratio, 3)
      // A reference that never fell behind was not measured to its knee: the ratio is an upper bound, not a pass.
      const bound = ref.neverSaturated ? ' (reference not saturated: upper bound)' : ''
      result.checks.push({target: `${name}: ≥ ${wanted}× ${label}`, value: fmtRatio(ratio) + bound, met: ratio >= wanted && !ref.neverSaturated})
    }
    const run = t.latencyRun
    if (run) {
      result.checks.push({target: `${name}: p95 ≤ ${TARGETS.p95Ms} ms at 80% of max`, value: `${run.latency.p95} ms`, met: run.latency.p95 <= TARGETS.p95Ms})
      result.checks.push({target: `${name}: p99 ≤ ${TARGETS.p99Ms} ms at 80% of max`, value: `${run.latency.p99} ms`, met: run.latency.p99 <= TARGETS.p99Ms})
    }
    if (name === 'msgr-all') {
      result.checks.push({
        target: `${name}: ≥ ${fmtInt(TARGETS.deliveriesPerCoreSecond)} deliveries per core-second`,
        value: fmtInt(t.deliveriesPerCpuSecond),
        met: t.deliveriesPerCpuSecond >= TARGETS.deliveriesPerCoreSecond,
      })
    }
    if (name !== 'msgr-all-msgpack') {
      result.checks.push({
        target: `${name}: ${name === 'msgr-split' ? 'gateway' : 'node'} ≤ 3 KB heap+external per idle connection`,
        value: `${fmtInt(t.idleMemory.heapBytesPerConnection)} B`,
        met: t.idleMemory.heapBytesPerConnection <= TARGETS.bytesPerIdleConnection,
      })
    }
  }
}

function toTables(result: DeliveryResult): Table[] {
  const s = result.setup
  const main: Table = {
    title: `delivery — the same workload through four servers: ${fmtInt(s.clients)} clients, ${s.groups} groups of ${s.groupSize} + ${s.pairs} pairs (${s.deliveriesPerMessage} deliveries per message)`,
    columns: ['target', 'max deliveries/s', 'peak', 'per CPU-s', 'p50 ms @80%', 'p95 ms @80%', 'p99 ms @80%', 'RSS B/idle conn', 'heap+ext B/conn', 'B/frame'],
    rows: result.targets.map((t) => [
      t.label,
      fmtInt(t.maxDeliveriesPerSecond),
      fmtInt(t.peakDeliveriesPerSecond),
      fmtInt(t.deliveriesPerCpuSecond),
      t.latencyRun?.latency.p50 ?? '-',
      t.latencyRun?.latency.p95 ?? '-',
      t.latencyRun?.latency.p99 ?? '-',
      fmtInt(t.idleMemory.rssBytesPerConnection),
      fmtInt(t.idleMemory.heapBytesPerConnection),
      t.bytesPerFrame || '-',
    ]),
    notes: [
      `Each server is its own process; the clients run in ${s.clientProcesses} other processes on the same 2 cores. msgr persists every message before fanout; the peers store nothing.`,
      'max deliveries/s: highest rate kept up with in an open-loop ramp (offered ×1.6 per step until deliveries fall behind or p95 > 500 ms, every target to its knee, then two bisection steps);',
      'peak: highest rate measured in any step, overloaded ones included. Latency: arrival − send, from the',
      'timestamp in the body, in a run at 80% of that rate. per CPU-s: deliveries ÷ CPU seconds of the server processes in the best step (NATS/Postgres/Redis not counted).',
      'Idle memory: (after − before) ÷ connections, read by the server after a forced GC; before = with the warm-up connections open. B/frame: bytes per received frame (msgr: replies too).',
      ...Object.entries(result.ratios).map(([k, v]) => `ratio ${k}: ${fmtRatio(v)}`),
      ...result.targets.filter((t) => t.neverSaturated).map((t) => `!! ${t.name} never fell behind (ramp cap reached): its max is a lower bound, and ratios against it are overstated`),
      ...result.targets.filter((t) => t.saturatedFromStart).map((t) => `!! ${t.name} fell behind already at the first step (${fmtInt(t.ramp[0]?.offeredPerSecond ?? 0)}/s offered): its max is a rate under overload`),
      ...result.skipped.map((x) => `!! skipped ${x}`),
    ],
  }
  const checks: Table = {
    title: 'delivery — targets',
    columns: ['target', 'measured', 'met'],
    rows: result.checks.map((c) => [c.target, c.value, c.met ? 'yes' : 'NO']),
    notes: result.memoryOnly.map((m) => `${m.label}: ${fmtInt(m.rssBytesPerConnection)} B RSS, ${fmtInt(m.heapBytesPerConnection)} B heap+external per idle connection (${fmtInt(m.connections)} connections)`),
  }
  return [main, checks]
}

/** bench/results/delivery.svg (max deliveries/s per target) and delivery-ramp.svg (p95 against offered rate). */
function writeChart(result: DeliveryResult): string {
  const bars = renderBarChart({
    title: `Max deliveries/s, same workload (${fmtInt(result.setup.clients)} clients; msgr persists every message)`,
    yLabel: 'deliveries/s',
    bars: result.targets.map((t) => ({label: t.label.replace(/^\([a-d]\) /, ''), value: t.maxDeliveriesPerSecond})),
    width: 900,
  })
  const ramp = renderLineChart({
    title: 'Delivery latency p95 against offered rate',
    xLabel: 'offered deliveries/s',
    yLabel: 'p95 ms',
    series: result.targets.map((t) => ({name: t.name, points: t.ramp.map((s) => [s.offeredPerSecond, s.latency.p95] as [number, number])})),
    width: 900,
  })
  const file = join(resultsDir(), 'delivery.svg')
  writeFileSync(file, bars)
  writeFileSync(join(resultsDir(), 'delivery-ramp.svg'), ramp)
  return file
}

function resultsDir(): string {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results')
  mkdirSync(dir, {recursive: true})
  return dir
}

/** Lets the servers finish handshakes and route registrations before memory is read. */
function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 1000))
}

/** One forked client process and its request/answer channel. */
class ClientProcess {
  private readonly child: ChildProcess
  private readonly waiting: Array<{type: FromClient['t']; resolve: (m: FromClient) => void; reject: (e: Error) => void}> = []

  constructor() {
    this.child = fork(join(dirname(fileURLToPath(import.meta.url)), 'delivery-client.js'), [], {stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
    this.child.on('message', (message: FromClient) => {
      const w = this.waiting.shift()
      if (!w) return
      if (message.t === 'error') w.reject(new Error(`client process: ${message.message}`))
      else w.resolve(message)
    })
    this.child.on('exit', (code) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`client process exited with ${code}`))
    })
  }

  send(message: ToClient): void {
    this.child.send(message)
  }

  ask(message: ToClient, type: FromClient['t']): Promise<FromClient> {
    return new Promise((resolve, reject) => {
      this.waiting.push({type, resolve, reject})
      this.child.send(message)
    })
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.child.send({t: 'close'} satisfies ToClient)
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
}
