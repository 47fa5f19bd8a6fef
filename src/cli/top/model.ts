import type {StatusResponse} from '../../control-plane/admin-api.js'
import {hasRole, statNumber} from '../../control-plane/cluster-status.js'
import type {NodeRecord} from '../../control-plane/node-registry.js'

// What `msgr top` shows, derived from successive polls of the control plane without I/O. Counters come
// from node heartbeats (every 2 s by default), so rates are taken between two heartbeats of the same node
// and divided by the time between those heartbeats; a poll that sees the same heartbeat keeps the rate.

/** One poll: what GET /v1/admin/status and GET /v1/admin/nodes answered, and when (ms, this clock). */
export interface TopSample {
  at: number
  status: StatusResponse
  nodes: NodeRecord[]
}

/** Rates of one node between its last two heartbeats; absent when there is nothing to compare with. */
export interface NodeRates {
  /** CPU time per wall time, in percent of one core (above 100 on several cores, like top). */
  cpuPercent?: number
  /** Messages its worker stored per second. */
  storedPerSec?: number
}

export interface TopState {
  sample: TopSample
  /** Per node: the heartbeat its rates were computed up to, and those rates. */
  nodes: ReadonlyMap<string, {record: NodeRecord; rates: NodeRates}>
  /** Cluster-wide messages stored per second, one per poll, oldest first. */
  history: number[]
}

/** A node as the dashboard and `msgr top --json` show it. null: not applicable (role) or not known yet (rate). */
export interface TopNodeRow {
  id: string
  role: string
  /** drained: draining and reporting nothing left. */
  state: NodeRecord['state'] | 'drained'
  draining: boolean
  alive: boolean
  /** Seconds since its last heartbeat. */
  lastSeenSec: number
  connections: number | null
  partitions: number | null
  cpuPercent: number | null
  rssBytes: number | null
  uptimeSec: number | null
  version: string
}

export interface TopView {
  at: string
  cluster: {
    ready: boolean
    problems: string[]
    warnings: string[]
    nodes: {total: number; alive: number}
    canary?: StatusResponse['canary']
  }
  nodes: TopNodeRow[]
  totals: {
    /** Open connections on live gateways. */
    connections: number
    partitions: StatusResponse['partitions']
    /** Messages stored per second over all live workers; null until two heartbeats were seen. */
    storedPerSec: number | null
  }
  /** storedPerSec of the last polls, oldest first. */
  history: number[]
}

export const HISTORY_SAMPLES = 60

/** The state after one more poll. */
export function advance(prev: TopState | undefined, sample: TopSample, historySize: number = HISTORY_SAMPLES): TopState {
  const nodes = new Map<string, {record: NodeRecord; rates: NodeRates}>()
  for (const record of sample.nodes) {
    const seen = prev?.nodes.get(record.id)
    let rates: NodeRates
    if (!record.alive || !seen) rates = {}
    else if (seen.record.heartbeatAt === record.heartbeatAt) rates = seen.rates
    else rates = nodeRates(seen.record, record)
    nodes.set(record.id, {record, rates})
  }
  const total = totalStoredPerSec(sample.nodes, nodes)
  const history = total === undefined ? [...(prev?.history ?? [])] : [...(prev?.history ?? []), total]
  return {sample, nodes, history: history.slice(-historySize)}
}

/**
 * Rates between two heartbeats of one node. A restart (a new startedAt, or a counter that went down)
 * gives no rate for that interval rather than a negative one.
 */
export function nodeRates(prev: NodeRecord, next: NodeRecord): NodeRates {
  const seconds = (Date.parse(next.heartbeatAt) - Date.parse(prev.heartbeatAt)) / 1000
  if (!(seconds > 0) || prev.startedAt !== next.startedAt) return {}
  const rates: NodeRates = {}
  const cpu = counterDelta(cpuMicros(prev), cpuMicros(next))
  if (cpu !== undefined) rates.cpuPercent = (cpu / 1e6 / seconds) * 100
  const stored = counterDelta(storedCount(prev), storedCount(next))
  if (stored !== undefined) rates.storedPerSec = stored / seconds
  return rates
}

/** True when every live node has its rates: what a one-shot snapshot waits for. */
export function ratesKnown(state: TopState): boolean {
  return [...state.nodes.values()].every(({record, rates}) => !record.alive || (rates.cpuPercent !== undefined && (!hasRole(record, 'worker') || rates.storedPerSec !== undefined)))
}

export function topView(state: TopState): TopView {
  const {status, nodes, at} = state.sample
  const rows = nodes.map((n) => nodeRow(n, state.nodes.get(n.id)?.rates ?? {}))
  const connections = nodes.filter((n) => n.alive && hasRole(n, 'gateway')).reduce((sum, n) => sum + statNumber(n, 'connections'), 0)
  const stored = totalStoredPerSec(nodes, state.nodes)
  return {
    at: new Date(at).toISOString(),
    cluster: {
      ready: status.ready,
      problems: status.problems,
      warnings: status.warnings,
      nodes: {total: nodes.length, alive: nodes.filter((n) => n.alive).length},
      ...(status.canary ? {canary: status.canary} : {}),
    },
    nodes: rows,
    totals: {connections, partitions: status.partitions, storedPerSec: stored ?? null},
    history: state.history,
  }
}

function nodeRow(n: NodeRecord, rates: NodeRates): TopNodeRow {
  const draining = n.state === 'draining'
  return {
    id: n.id,
    role: n.role,
    state: draining && n.stats?.drained === true ? 'drained' : n.state,
    draining,
    alive: n.alive,
    lastSeenSec: Math.max(0, n.ageMs / 1000),
    connections: hasRole(n, 'gateway') ? statNumber(n, 'connections') : null,
    partitions: hasRole(n, 'worker') ? statNumber(n, 'partitions') : null,
    cpuPercent: rates.cpuPercent ?? null,
    rssBytes: n.alive && statNumber(n, 'rssBytes') > 0 ? statNumber(n, 'rssBytes') : null,
    uptimeSec: n.alive ? statNumber(n, 'uptimeSec') : null,
    version: n.version,
  }
}

/** Sum over live workers; undefined while none of them has a rate yet. */
function totalStoredPerSec(nodes: readonly NodeRecord[], derived: TopState['nodes']): number | undefined {
  let total: number | undefined
  for (const n of nodes) {
    const rate = derived.get(n.id)?.rates.storedPerSec
    if (n.alive && hasRole(n, 'worker') && rate !== undefined) total = (total ?? 0) + rate
  }
  return total
}

/** stats.cpu is process.cpuUsage() of the node: user and system microseconds since it started. */
function cpuMicros(node: NodeRecord): number | undefined {
  const cpu = node.stats?.cpu as {user?: unknown; system?: unknown} | undefined
  if (!cpu || typeof cpu !== 'object') return undefined
  const micros = Number(cpu.user ?? 0) + Number(cpu.system ?? 0)
  return Number.isFinite(micros) ? micros : undefined
}

function storedCount(node: NodeRecord): number | undefined {
  const value = node.stats?.stored
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/** A counter's increase; undefined when either side is missing or it went down (the process restarted). */
function counterDelta(prev: number | undefined, next: number | undefined): number | undefined {
  if (prev === undefined || next === undefined || next < prev) return undefined
  return next - prev
}
