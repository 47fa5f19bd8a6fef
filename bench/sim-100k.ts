import {randomBytes} from 'node:crypto'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import pg from 'pg'

import {createThrowawayDatabase} from '../src/adapters/postgres/throwaway.js'
import {deleteNatsStream, randomNamespace} from '../src/server/local-cluster.js'
import {runDistributed} from '../src/simulator/distributed/controller.js'
import {decodeHistogram, summarize} from '../src/simulator/histograms.js'
import type {CalibrationFigures} from '../src/simulator/plan/calibration.js'
import {summarizeRun, writeReport} from '../src/simulator/report.js'
import {lossOf, type Phase, type Progress, scenarioSchema, type SliceResult} from '../src/simulator/types.js'
import {findServices} from './cluster.js'
import {childrenOf, procCpuMs, procStatus, type RoleProcess, startRole} from './sim-processes.js'

// `npm run sim:100k [-- --connections 100000 --gateways 6 --agents 6 --steady 60]`: a real cluster as separate
// processes (control plane, gateways each under the 20,000-file limit, a worker) on Postgres/Redis/NATS,
// then the simulator's distributed run (`msgr sim run --agents K` — the same controller, here in-process so
// that phases can be timed) with clients spread over several loopback source addresses and routed by the
// control plane's /v1/connect; holds the connections through a steady phase of light traffic and prints
// peak connections, connect rate, memory per connection, delivery latency and the loss audit. Writes
// bench/results/sim-100k.json, which `msgr sim plan --calibrate` reads.

interface Options {
  connections: number
  gateways: number
  agents: number
  sources: number
  rampUp: number
  steady: number
  rate: number
  /** Gateways' ping interval, ms (--heartbeat; the server default is 25,000). */
  heartbeat: number
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2))
  const found = await findServices()
  if ('missing' in found) throw new Error(`sim:100k needs Postgres, Redis and NATS: ${found.missing.join(', ')} not reachable`)
  const {urls} = found
  const perGateway = Math.ceil(o.connections / o.gateways)
  const perAgent = Math.ceil(o.connections / o.agents)
  if (perGateway > 18_500 || perAgent > 18_500) throw new Error(`${perGateway} sockets per gateway / ${perAgent} per agent: stay under the 20,000-file limit (more --gateways / --agents)`)

  // Agents hold ~17k clients each: room for their heap (they inherit this environment).
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=4096`.trim()
  const db = await createThrowawayDatabase(urls.postgres, {prefix: 'msgr_sim100k_', connectTimeoutMs: 3000})
  const namespace = randomNamespace('s')
  const jwtSecret = randomBytes(30).toString('base64url')
  const runId = `sim100k-${Date.now().toString(36)}`
  const common = ['--namespace', namespace, '--partitions', '16', '--database-url', db.url, '--nats-url', urls.nats, '--redis-url', urls.redis, '--host', '127.0.0.1']
  const env = {MSGR_JWT_SECRET: jwtSecret}
  const roles: RoleProcess[] = []
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`)
  let result: SliceResult | undefined
  try {
    log(`starting control plane, ${o.gateways} gateways, 1 worker on ${db.url.replace(/\/\/[^@]*@/, '//')} (namespace ${namespace})`)
    const cp = await startRole('cp', ['serve', 'control-plane', '--port', '0', '--node-id', 'cp0', '--migrate', '--canary-interval', '0', ...common], env)
    roles.push(cp)
    const gatewayArgs = ['--rate-limits', 'off', '--presence', 'off', '--dev', '--heartbeat', String(o.heartbeat)]
    const gateways = await Promise.all(
      Array.from({length: o.gateways}, (_, i) => startRole(`gw${i}`, ['serve', 'gateway', '--port', '0', '--node-id', `gw${i}`, ...gatewayArgs, ...common], {...env, MSGR_LOG_LEVEL: 'info'})),
    )
    roles.push(...gateways)
    const worker = await startRole('wk0', ['serve', 'worker', '--port', '0', '--node-id', 'wk0', ...common], env)
    roles.push(worker)
    await sleep(3000) // heartbeats: the control plane learns every gateway before routing

    const baseline = new Map(roles.map((r) => [r.name, {rss: r.rss(), cpu: r.cpuMs()}]))
    const sampler = new Sampler(roles, gateways)
    const timer = setInterval(() => void sampler.sample(), 2000)
    // Autovacuum is off on some development Postgres servers (this machine's included): tables that grow
    // from nothing to 100,000 users would keep the statistics of an empty database. Analyze every minute,
    // as autovacuum would on a production server.
    const analyzer = await keepAnalyzed(db.url, log)
    const sources = Array.from({length: o.sources}, (_, i) => `127.0.0.${i + 2}`)
    const scenario = scenarioSchema.parse({
      name: 'sim-100k',
      users: o.connections,
      devices: {weights: [1]},
      conversations: {contactsPerUser: 0.4, groupsPerUser: 0.08, groupSizeMean: 8},
      rate: {messagesPerSecond: o.rate, maxInFlight: 200},
      phases: {rampUp: o.rampUp, steady: o.steady, rampDown: 5, settle: 30},
      churn: {perHour: 0.1, timeCompression: 1},
      typing: {share: 0.1},
      receipts: {readShare: 0.2},
      media: {share: 0},
      login: {concurrency: 16},
    })
    log(`run ${runId}: ${o.connections} users × 1 device over ${o.agents} agents, sources ${sources.join(',')}, via ${cp.url}/v1/connect`)
    const phases = new Map<Phase, PhaseMark>()
    let last = 0
    const onProgress = (p: Progress) => {
      sampler.agentConnections = p.connections
      if (!phases.has(p.phase)) {
        phases.set(p.phase, {at: Date.now(), cpu: sum(roles.map((r) => r.cpuMs())), deliveries: sampler.deliveries, connects: sampler.connects})
        log(`phase ${p.phase}`)
      }
      if (Date.now() - last >= 10_000) {
        last = Date.now()
        log(`${p.phase}: ${p.loggedIn} logged in, ${p.connections} connected, ${p.acked} acked, ${p.deliveredEvents} delivered, ${p.errors} errors, p99 ${p.deliveryP99Ms ?? '-'} ms${p.finalSync ? `, final sync ${p.finalSync.done}/${p.finalSync.total} devices that were behind` : ''}`)
      }
    }
    const started = Date.now()
    // First Ctrl-C/SIGTERM: end the traffic, still collect, audit and report; the second one: clean up and leave.
    const stop = new AbortController()
    let signals = 0
    const onSignal = () => {
      if (++signals === 1) return stop.abort()
      void Promise.all(roles.map((r) => r.stop())).finally(() => void db.drop().finally(() => process.exit(130)))
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    result = await runDistributed({
      signal: stop.signal,
      spec: {runId, seed: 100_000, scenario, target: {url: cp.url, via: 'control-plane'}, auth: {databaseUrl: db.url, jwtSecret, accessTtlSec: 7200}, users: o.connections},
      agents: o.agents,
      natsUrl: urls.nats,
      spawn: true,
      localAddresses: sources,
      onProgress,
      agentTimeoutMs: 300_000,
      log,
    })
    clearInterval(timer)
    await analyzer.stop()
    const elapsed = (Date.now() - started) / 1000
    const figures = await measure(o, result, roles, gateways, worker, baseline, sampler, phases, db.url)
    const dir = join('sim-results', runId)
    const {files} = await writeReport(dir, result)
    print(o, figures, result, elapsed, files)
    mkdirSync(join('bench', 'results'), {recursive: true})
    writeFileSync(
      join('bench', 'results', 'sim-100k.json'),
      JSON.stringify({updatedAt: new Date().toISOString(), options: o, figures, calibration: figures.calibration, summary: summarizeRun(result)}, null, 2) + '\n',
    )
    if (lossOf(result.audit) > 0) process.exitCode = 1
  } finally {
    for (const role of roles.reverse()) await role.stop().catch(() => {})
    await db.drop().catch(() => {})
    await deleteNatsStream(urls.nats, namespace).catch(() => {})
  }
}

/** ANALYZE every minute unless the server's autovacuum is on. */
async function keepAnalyzed(url: string, log: (line: string) => void): Promise<{stop(): Promise<void>}> {
  const client = new pg.Client({connectionString: url})
  await client.connect()
  const on = (await client.query<{autovacuum: string}>('SHOW autovacuum')).rows[0]?.autovacuum === 'on'
  if (on) {
    await client.end()
    return {stop: async () => {}}
  }
  log('autovacuum is off on this Postgres: analyzing the run database every 60 s')
  let running: Promise<unknown> = Promise.resolve()
  const timer = setInterval(() => {
    running = client.query('ANALYZE').catch((error: Error) => log(`ANALYZE failed: ${error.message}`))
  }, 60_000)
  return {
    async stop() {
      clearInterval(timer)
      await running
      await client.end()
    },
  }
}

/** Gateway connections, RSS and deliveries every 2 s; agents found as child processes of this one. */
class Sampler {
  peakGatewayConnections = 0
  peakGatewayRss = new Map<string, {rss: number; connections: number}>()
  peakAgentRss = 0
  agentConnections = 0
  peakAgentConnections = 0
  deliveries = 0
  connects = 0
  agentCpuMs = new Map<number, number>()
  connectSeries: Array<{at: number; connections: number}> = []
  private readonly lastCounts = new Map<string, {connections: number; deliveries: number; connects: number}>()

  constructor(
    private readonly roles: RoleProcess[],
    private readonly gateways: RoleProcess[],
  ) {}

  async sample(): Promise<void> {
    // A scrape that fails (a busy gateway) keeps that gateway's last figures: counters must not seem to fall.
    const counts = await Promise.all(
      this.gateways.map(async (g) => {
        const last = this.lastCounts.get(g.name) ?? {connections: 0, deliveries: 0, connects: 0}
        const now = {
          g,
          connections: (await g.metric('msgr_ws_connections')) ?? last.connections,
          deliveries: (await g.metric('msgr_deliveries_total')) ?? last.deliveries,
          connects: (await g.metric('msgr_ws_connects_total')) ?? last.connects,
        }
        this.lastCounts.set(g.name, now)
        return now
      }),
    )
    const total = sum(counts.map((c) => c.connections))
    this.deliveries = sum(counts.map((c) => c.deliveries))
    this.connects = sum(counts.map((c) => c.connects))
    this.connectSeries.push({at: Date.now(), connections: total})
    if (total >= this.peakGatewayConnections) {
      this.peakGatewayConnections = total
      for (const {g, connections} of counts) this.peakGatewayRss.set(g.name, {rss: g.rss(), connections})
    }
    const rolePids = new Set(this.roles.map((r) => r.proc.pid))
    const agents = childrenOf(process.pid).filter((pid) => !rolePids.has(pid))
    const agentRss = sum(agents.map((pid) => procStatus(pid, 'VmRSS') * 1024))
    for (const pid of agents) this.agentCpuMs.set(pid, procCpuMs(pid))
    if (this.agentConnections >= this.peakAgentConnections) {
      this.peakAgentConnections = this.agentConnections
      this.peakAgentRss = Math.max(this.peakAgentRss, agentRss)
    }
  }
}

async function measure(
  o: Options,
  result: SliceResult,
  roles: RoleProcess[],
  gateways: RoleProcess[],
  worker: RoleProcess,
  baseline: Map<string, {rss: number; cpu: number}>,
  sampler: Sampler,
  phases: Map<Phase, PhaseMark>,
  databaseUrl: string,
) {
  const peakTimeline = Math.max(0, ...result.timeline.map((b) => b.connections))
  const gatewayGrowth = sum(gateways.map((g) => (sampler.peakGatewayRss.get(g.name)?.rss ?? 0) - baseline.get(g.name)!.rss))
  const gatewayConns = sum(gateways.map((g) => sampler.peakGatewayRss.get(g.name)?.connections ?? 0))
  const rampUp = phases.get('ramp-up')
  const steady = phases.get('steady')
  const rampDown = phases.get('ramp-down')
  // Connect rate: 10% → 90% of the peak on the gateways' own count.
  const series = sampler.connectSeries
  const t10 = series.find((s) => s.connections >= 0.1 * sampler.peakGatewayConnections)
  const t90 = series.find((s) => s.connections >= 0.9 * sampler.peakGatewayConnections)
  const connectRate = t10 && t90 && t90.at > t10.at ? (t90.connections - t10.connections) / ((t90.at - t10.at) / 1000) : undefined
  const steadyCpuMs = steady && rampDown ? rampDown.cpu - steady.cpu : undefined
  const steadyDeliveries = steady && rampDown ? rampDown.deliveries - steady.deliveries : undefined
  // Reconnects during steady (churn, 15-minute access tokens) cost CPU too: take them out at the ramp's rate.
  const steadyConnects = steady && rampDown ? rampDown.connects - steady.connects : 0
  const rampConnects = rampUp && steady ? steady.connects - rampUp.connects : 0
  const workerCpu = worker.cpuMs() - baseline.get('wk0')!.cpu
  const serverCpu = sum(roles.map((r) => r.cpuMs() - baseline.get(r.name)!.cpu))
  const rampCpuMs = rampUp && steady ? steady.cpu - rampUp.cpu : undefined
  const stored = await storedBytes(databaseUrl)
  const c = result.counters
  const calibration: Partial<CalibrationFigures> = {
    ...(gatewayConns > 0 ? {bytesPerConnection: Math.round(gatewayGrowth / gatewayConns)} : {}),
    ...(deliveryCpu(steadyCpuMs, steadyDeliveries, steadyConnects, rampCpuMs, rampConnects)),
    ...(serverCpu > 0 ? {workerCpuShare: workerCpu / serverCpu} : {}),
    ...(rampCpuMs && rampConnects > 0 ? {cpuMsPerConnect: rampCpuMs / rampConnects} : {}),
    // Byte counters include hellos and syncs: per-message bytes only when messages dominate (see calibration.ts).
    ...(c.deliveredEvents >= 10 * Math.max(1, c.connects) ? {wireBytesPerDelivery: Math.round(c.bytesReceived / c.deliveredEvents), wireBytesPerSend: Math.round(c.bytesSent / Math.max(1, c.sent))} : {}),
    ...(stored.rows >= 5000 ? {storedBytesPerMessage: Math.round(stored.bytes / stored.rows)} : {}),
    ...(sampler.peakAgentConnections > 0 ? {agentBytesPerClient: Math.round(sampler.peakAgentRss / sampler.peakAgentConnections)} : {}),
  }
  return {
    peakConnections: {timeline: peakTimeline, gateways: sampler.peakGatewayConnections, agents: sampler.peakAgentConnections},
    connectRatePerSecond: connectRate,
    rampUpSeconds: rampUp && steady ? (steady.at - rampUp.at) / 1000 : undefined,
    gatewayRssPeak: Object.fromEntries([...sampler.peakGatewayRss].map(([k, v]) => [k, v])),
    gatewayBytesPerConnection: calibration.bytesPerConnection,
    agentRssPeak: sampler.peakAgentRss,
    agentBytesPerConnection: calibration.agentBytesPerClient,
    cpuMs: Object.fromEntries(roles.map((r) => [r.name, Math.round(r.cpuMs() - baseline.get(r.name)!.cpu)])),
    agentCpuMs: Math.round(sum([...sampler.agentCpuMs.values()])),
    steady: {cpuMs: steadyCpuMs, deliveries: steadyDeliveries, connects: steadyConnects},
    rampUp: {cpuMs: rampCpuMs, connects: rampConnects},
    stored,
    latencyMs: {delivery: summarize(decodeHistogram(result.histograms.delivery)), ack: summarize(decodeHistogram(result.histograms.ack)), connect: summarize(decodeHistogram(result.histograms.connect))},
    audit: result.audit,
    loss: lossOf(result.audit),
    errorsByCode: result.errorsByCode,
    calibration,
    gateways: o.gateways,
  }
}

interface PhaseMark {
  at: number
  /** CPU of every server process so far, ms. */
  cpu: number
  /** Gateways' deliveries and accepted connections so far. */
  deliveries: number
  connects: number
}

/** Server CPU per delivery in the steady phase, reconnects taken out at the ramp-up's CPU per connect. */
function deliveryCpu(steadyCpuMs: number | undefined, deliveries: number | undefined, steadyConnects: number, rampCpuMs: number | undefined, rampConnects: number): {cpuMsPerDelivery?: number} {
  if (!steadyCpuMs || !deliveries || deliveries < 100) return {}
  const perConnect = rampCpuMs && rampConnects > 0 ? rampCpuMs / rampConnects : 0
  const cpu = steadyCpuMs - steadyConnects * perConnect
  return cpu > 0 ? {cpuMsPerDelivery: cpu / deliveries} : {}
}

/** Postgres bytes (tables, indexes, TOAST) of every messages partition, and its rows. */
async function storedBytes(url: string): Promise<{bytes: number; rows: number}> {
  const client = new pg.Client({connectionString: url})
  await client.connect()
  try {
    const size = await client.query<{bytes: string}>(
      "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c WHERE c.relkind = 'r' AND (c.relname = 'messages' OR c.relname LIKE 'messages\\_%') AND c.relname NOT LIKE '%search%'",
    )
    const rows = await client.query<{n: string}>('SELECT count(*) AS n FROM messages')
    return {bytes: Number(size.rows[0]?.bytes ?? 0), rows: Number(rows.rows[0]?.n ?? 0)}
  } catch {
    return {bytes: 0, rows: 0}
  } finally {
    await client.end()
  }
}

function print(o: Options, f: Awaited<ReturnType<typeof measure>>, result: SliceResult, elapsed: number, files: string[]): void {
  const mb = (b: number | undefined) => (b === undefined ? '-' : `${(b / 1e6).toFixed(1)} MB`)
  const kb = (b: number | undefined) => (b === undefined ? '-' : `${(b / 1024).toFixed(1)} KiB`)
  const d = f.latencyMs.delivery
  const lines = [
    '',
    `sim:100k — ${o.connections} virtual clients, ${o.gateways} gateways + control plane + worker, ${o.agents} agents, ${o.sources} source addresses, heartbeat ${o.heartbeat / 1000} s (${elapsed.toFixed(0)} s)`,
    `  peak concurrent connections  ${f.peakConnections.gateways} on the gateways' gauges, ${f.peakConnections.timeline} in the simulator timeline`,
    `  connect rate                 ${f.connectRatePerSecond?.toFixed(0) ?? '-'} connections/s (10% → 90% of peak); ramp-up ${f.rampUpSeconds?.toFixed(0) ?? '-'} s; connect p50 ${f.latencyMs.connect.p50} ms p99 ${f.latencyMs.connect.p99} ms`,
    `  memory per connection        gateway ${kb(f.gatewayBytesPerConnection)} (RSS growth ÷ connections), agent ${kb(f.agentBytesPerConnection)}`,
    `  gateway RSS at peak          ${Object.entries(f.gatewayRssPeak).map(([k, v]) => `${k} ${mb(v.rss)}/${v.connections}`).join(', ')}`,
    `  CPU (ms)                     ${Object.entries(f.cpuMs).map(([k, v]) => `${k} ${v}`).join(', ')}, agents ${f.agentCpuMs}`,
    `  ramp-up                      ${f.rampUp.connects} connects, ${f.rampUp.cpuMs?.toFixed(0) ?? '-'} server CPU ms → ${f.calibration.cpuMsPerConnect?.toFixed(2) ?? '-'} ms/connect`,
    `  steady                       ${f.steady.deliveries ?? '-'} deliveries, ${f.steady.connects} reconnects, ${f.steady.cpuMs?.toFixed(0) ?? '-'} server CPU ms → ${f.calibration.cpuMsPerDelivery?.toFixed(3) ?? '-'} ms/delivery (reconnects taken out)`,
    `  delivery latency             p50 ${d.p50} ms  p95 ${d.p95} ms  p99 ${d.p99} ms  max ${d.max} ms  (${d.count} deliveries)`,
    `  loss audit                   ${result.audit.messages} messages, ${result.audit.expected} expected deliveries: missing ${result.audit.missing}, duplicated ${result.audit.duplicated}, live misses ${result.audit.liveMisses}, seq conflicts ${result.audit.seqConflicts} → ${f.loss === 0 ? 'NO LOSS' : `LOSS ${f.loss}`}`,
    `  errors                       ${Object.entries(f.errorsByCode).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `  stored                       ${f.stored.rows} messages, ${mb(f.stored.bytes)} in Postgres`,
    `  report                       ${files.join(' ')}; figures: bench/results/sim-100k.json (msgr sim plan --calibrate bench/results/sim-100k.json)`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

function options(args: string[]): Options {
  const o: Options = {connections: 100_000, gateways: 6, agents: 6, sources: 8, rampUp: 300, steady: 60, rate: 100, heartbeat: 25_000}
  for (let i = 0; i < args.length; i += 2) {
    const key = args[i]!.replace(/^--/, '') as keyof Options
    const value = Number(args[i + 1])
    if (!(key in o) || !Number.isFinite(value) || value <= 0) throw new Error(`sim:100k: unknown or bad option ${args[i]} ${args[i + 1] ?? ''} (options: ${Object.keys(o).map((k) => `--${k}`).join(' ')})`)
    o[key] = value
  }
  return o
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

main().catch((error: unknown) => {
  process.stderr.write(`sim:100k failed: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
