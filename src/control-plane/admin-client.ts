import type {WireError} from '../errors.js'
import type {
  ConnectResponse,
  DrainBody,
  DrainDryRunResponse,
  DrainResponse,
  NodeResponse,
  NodesResponse,
  PartitionsResponse,
  StatusResponse,
  UndrainResponse,
  CanaryResponse,
} from './admin-api.js'
import type {DrainPlan} from './cluster-status.js'
import {statNumber} from './cluster-status.js'
import type {DrainRequest, NodeRecord} from './node-registry.js'

// The operator side of the admin API (src/control-plane/admin-api.ts): what `msgr node …`, `msgr partition
// list` and `msgr status` call. Commands only parse flags and print; the waiting and deciding is here.

export interface AdminClientOptions {
  /** Base URL of a control-plane node, e.g. http://127.0.0.1:8080 */
  url: string
  token?: string
  /** ms before a request gives up (default 10 s). */
  timeoutMs?: number
}

/** The control plane answered with an error (`code` from src/errors.ts), or could not be reached (`unreachable`). */
export class AdminApiError extends Error {
  constructor(
    readonly code: WireError['code'] | 'unreachable',
    message: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'AdminApiError'
  }
}

export class AdminClient {
  constructor(private readonly options: AdminClientOptions) {}

  nodes(): Promise<NodesResponse> {
    return this.call('GET', '/v1/admin/nodes')
  }

  node(id: string): Promise<NodeResponse> {
    return this.call('GET', `/v1/admin/node?id=${encodeURIComponent(id)}`)
  }

  drain(body: Omit<DrainBody, 'dryRun'>): Promise<DrainResponse> {
    return this.call('POST', '/v1/admin/drain', {...body, dryRun: false})
  }

  planDrain(body: Omit<DrainBody, 'dryRun'>): Promise<DrainDryRunResponse> {
    return this.call('POST', '/v1/admin/drain', {...body, dryRun: true})
  }

  undrain(node: string): Promise<UndrainResponse> {
    return this.call('POST', '/v1/admin/undrain', {node})
  }

  partitions(): Promise<PartitionsResponse> {
    return this.call('GET', '/v1/admin/partitions')
  }

  status(): Promise<StatusResponse> {
    return this.call('GET', '/v1/admin/status')
  }

  canary(): Promise<CanaryResponse> {
    return this.call('GET', '/v1/admin/canary')
  }

  connect(user: string): Promise<ConnectResponse> {
    return this.call('GET', `/v1/connect?user=${encodeURIComponent(user)}`)
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {accept: 'application/json'}
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const target = new URL(path, this.options.url)
    let res: Response
    try {
      res = await fetch(target, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      })
    } catch (error) {
      const cause = (error as {cause?: {code?: string}}).cause?.code ?? (error as Error).message
      throw new AdminApiError('unreachable', `cannot reach the control plane at ${this.options.url} (${cause}): is it running? set --url or MSGR_CONTROL_PLANE_URL`)
    }
    const text = await res.text()
    const parsed = parseJson(text)
    if (res.ok) return parsed as T
    const wire = (parsed as {error?: WireError} | undefined)?.error
    if (res.status === 401) {
      const hint = this.options.token ? 'the admin token was refused: check --admin-token / MSGR_ADMIN_TOKEN' : 'the control plane needs an admin token: pass --admin-token or set MSGR_ADMIN_TOKEN'
      throw new AdminApiError('unauthenticated', hint, 401)
    }
    throw new AdminApiError(wire?.code ?? 'internal', wire?.message ?? `${method} ${path} answered ${res.status}`, res.status)
  }
}

export interface DrainProgress {
  node: string
  state: NodeRecord['state']
  alive: boolean
  connections: number
  partitions: number
  drained: boolean
  elapsedSec: number
  /** Seconds to the deadline (negative once it passed). */
  deadlineInSec: number
}

/** How a watched drain ended: drained and stopped are success, timed_out is exit 3, the rest errors. */
export type DrainOutcome = 'drained' | 'stopped' | 'timed_out' | 'cancelled' | 'lost'

export type DrainResult =
  | {outcome: 'dry_run'; plan: DrainPlan}
  | {outcome: 'requested'; node: NodeRecord; drain: DrainRequest}
  | {outcome: DrainOutcome; node: NodeRecord; drain: DrainRequest; elapsedSec: number; left: {connections: number; partitions: number}}

export interface WatchOptions {
  /** After the deadline, how long the node gets to close what is left and report (default 10 s). */
  graceMs?: number
  intervalMs?: number
  onProgress?: (progress: DrainProgress) => void
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

export const DRAIN_GRACE_MS = 10_000
const MAX_CONSECUTIVE_FAILURES = 3

/** Polls the node until it reports `drained`, stops, is undrained, dies, or the deadline plus grace passes. */
export async function watchDrain(client: Pick<AdminClient, 'node'>, nodeId: string, drain: DrainRequest, options: WatchOptions = {}): Promise<Extract<DrainResult, {elapsedSec: number}>> {
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const started = now()
  // The span the operator asked for, measured on this clock: immune to skew between here and the server.
  const deadline = started + Math.max(0, Date.parse(drain.deadlineAt) - Date.parse(drain.requestedAt))
  const giveUpAt = deadline + (options.graceMs ?? DRAIN_GRACE_MS)
  let failures = 0
  for (;;) {
    let node: NodeRecord
    try {
      node = (await client.node(nodeId)).node
      failures = 0
    } catch (error) {
      if (error instanceof AdminApiError && error.code === 'not_found') throw error
      if (++failures >= MAX_CONSECUTIVE_FAILURES || now() > giveUpAt) throw error
      await sleep(options.intervalMs ?? 1000)
      continue
    }
    const progress = progressOf(node, started, deadline, now())
    options.onProgress?.(progress)
    const outcome = outcomeOf(node, progress, now() > giveUpAt)
    if (outcome) {
      return {outcome, node, drain, elapsedSec: progress.elapsedSec, left: {connections: progress.connections, partitions: progress.partitions}}
    }
    await sleep(options.intervalMs ?? 1000)
  }
}

/** Exit status of `msgr node drain` for a result: 0 done, 3 deadline passed with work left, 1 otherwise. */
export function drainExitCode(result: DrainResult): number {
  switch (result.outcome) {
    case 'dry_run':
    case 'requested':
    case 'drained':
    case 'stopped':
      return 0
    case 'timed_out':
      return 3
    case 'cancelled':
    case 'lost':
      return 1
  }
}

function progressOf(node: NodeRecord, started: number, deadline: number, now: number): DrainProgress {
  return {
    node: node.id,
    state: node.state,
    alive: node.alive,
    connections: statNumber(node, 'connections'),
    partitions: statNumber(node, 'partitions'),
    // Only a report made while draining counts: a stale one from before the request says nothing.
    drained: node.state === 'draining' && node.stats?.draining === true && node.stats?.drained === true,
    elapsedSec: Math.round((now - started) / 100) / 10,
    deadlineInSec: Math.round((deadline - now) / 100) / 10,
  }
}

function outcomeOf(node: NodeRecord, progress: DrainProgress, pastGrace: boolean): DrainOutcome | undefined {
  if (progress.drained) return 'drained'
  if (node.state === 'stopped') return 'stopped'
  if (node.state === 'active') return 'cancelled'
  if (!node.alive) return 'lost'
  if (pastGrace) return 'timed_out'
  return undefined
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
