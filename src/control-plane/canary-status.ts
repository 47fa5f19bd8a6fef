import type {ClusterStatus} from './cluster-status.js'
import type {NodeRecord} from './node-registry.js'

// What the canary's outcomes mean, without I/O: the history, "failing", the summary the leader publishes in
// its heartbeat, and the canary part of GET /v1/admin/status.

/** Where a probe failed: finding a gateway, getting tokens, connecting, the send's ack, the delivery. */
export type CanaryStage = 'gateway' | 'auth' | 'connect' | 'send' | 'deliver'

export interface CanaryOutcome {
  ok: boolean
  /** When the probe started (ISO). */
  at: string
  /** Send to ack, ms (when the ack came). */
  ackMs?: number
  /** Send to the `message` event at the second device, ms (when it came). */
  deliveryMs?: number
  /** Gateways the sending and the receiving device used. */
  sender?: string
  receiver?: string
  stage?: CanaryStage
  error?: string
}

/** The canary as one control plane reports it: its own probes when it leads, the leader's last one otherwise. */
export interface CanaryReport {
  enabled: boolean
  /** This control plane leads (and runs the probes). */
  leader: boolean
  /** The leader whose probes these are; null when none is known. */
  leaderNode: string | null
  /** At least `failureThreshold` probes failed in a row. */
  failing: boolean
  consecutiveFailures: number
  last: CanaryOutcome | null
  /** Newest first; only the leader keeps one. */
  history: CanaryOutcome[]
}

/** What the leader puts in its heartbeat stats (`stats.canary`), so every control plane can report it. */
export interface CanarySummary {
  last: CanaryOutcome | null
  failing: boolean
  consecutiveFailures: number
}

export type CanaryStatusView = Omit<CanaryReport, 'history'>

export type StatusWithCanary = ClusterStatus & {canary?: CanaryStatusView}

/** The history with `outcome` in front, at most `max` long. */
export function recordOutcome(history: readonly CanaryOutcome[], outcome: CanaryOutcome, max: number): CanaryOutcome[] {
  return [outcome, ...history].slice(0, max)
}

export function consecutiveFailures(history: readonly CanaryOutcome[]): number {
  const firstOk = history.findIndex((o) => o.ok)
  return firstOk < 0 ? history.length : firstOk
}

export function summarize(history: readonly CanaryOutcome[], failureThreshold: number): CanarySummary {
  const failures = consecutiveFailures(history)
  return {last: history[0] ?? null, failing: failures >= failureThreshold, consecutiveFailures: failures}
}

/** The live control-plane leader other than `self` (from heartbeat stats) and the canary summary it publishes. */
export function publishedByLeader(nodes: readonly NodeRecord[], self: string): {node: string; summary: CanarySummary | undefined} | undefined {
  const leader = nodes.find((n) => n.id !== self && n.alive && n.stats?.leader === true)
  if (!leader) return undefined
  return {node: leader.id, summary: readSummary(leader.stats.canary)}
}

/** Heartbeat stats are free-form JSON: take a summary only when it has the right shape. */
export function readSummary(value: unknown): CanarySummary | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  if (typeof v.failing !== 'boolean' || typeof v.consecutiveFailures !== 'number') return undefined
  const last = typeof v.last === 'object' && v.last !== null && typeof (v.last as CanaryOutcome).ok === 'boolean' ? (v.last as CanaryOutcome) : null
  return {last, failing: v.failing, consecutiveFailures: v.consecutiveFailures}
}

/** Adds the canary to the cluster status; a failing canary makes the cluster not ready. */
export function withCanary(status: ClusterStatus, report: CanaryReport | undefined): StatusWithCanary {
  if (!report) return status
  const {history: _history, ...view} = report
  if (!report.enabled) return {...status, canary: view}
  const problems = [...status.problems]
  const warnings = [...status.warnings]
  if (report.failing) {
    const last = report.last
    const why = last?.error ? ` (last: ${last.stage ? `${last.stage}: ` : ''}${last.error})` : ''
    problems.push(`canary failing: ${report.consecutiveFailures} probes in a row${why}`)
  } else if (report.leaderNode === null) {
    warnings.push('no control-plane leader: the canary is not running')
  }
  return {...status, ready: status.ready && !report.failing, problems, warnings, canary: view}
}
