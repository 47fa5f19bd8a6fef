import {chooseGateway} from './gateway-routing.js'
import type {DrainRequest, NodeRecord} from './node-registry.js'
import {ownerOf} from './partition-assignment.js'

// What an operator sees of the cluster, computed from node and lease rows without I/O: health summary,
// per-partition status and the plan of a drain (what would move where).

export interface LeaseRow {
  partition: number
  owner: string | null
  epoch: number
  expiresAt: string
}

/** owned: held by a live node within its lease; expired: held by a dead node or past its lease; unowned: nobody. */
export type PartitionStatus = 'owned' | 'expired' | 'unowned'

export interface PartitionView extends LeaseRow {
  status: PartitionStatus
}

export interface ClusterStatus {
  nodes: {
    total: number
    alive: number
    /** Nodes per role (a `serve all` node counts once for each of its roles). */
    byRole: Record<string, number>
    byState: Record<NodeRecord['state'], number>
  }
  partitions: {total: number; owned: number; unowned: number; expired: number}
  gateways: {active: number; connections: number}
  /** Nothing in `problems`: a live worker, every partition with a live owner, an active gateway. */
  ready: boolean
  /** What keeps the cluster from serving everyone. */
  problems: string[]
  /** Worth a look but not blocking: dead nodes that never said goodbye, drains in progress. */
  warnings: string[]
}

export interface DrainPlan {
  node: string
  roles: string[]
  state: NodeRecord['state']
  /** Open client connections that would be asked to reconnect elsewhere. */
  connections: number
  /** Gateways those clients would be sent to. */
  gatewayTargets: string[]
  /** Partitions this node holds and the worker each would move to (null: no live worker to take it). */
  partitions: Array<{partition: number; to: string | null}>
  drain: DrainRequest
  warnings: string[]
}

export function hasRole(node: Pick<NodeRecord, 'role'>, role: string): boolean {
  return node.role.split(',').includes(role)
}

/** Stats are free-form JSON from the node's heartbeat; read numbers defensively. */
export function statNumber(node: Pick<NodeRecord, 'stats'>, key: string): number {
  const value = Number(node.stats?.[key] ?? 0)
  return Number.isFinite(value) ? value : 0
}

export function partitionViews(leases: readonly LeaseRow[], nodes: readonly NodeRecord[], now: number): PartitionView[] {
  const alive = new Set(nodes.filter((n) => n.alive).map((n) => n.id))
  return leases.map((lease) => ({...lease, status: partitionStatus(lease, alive, now)}))
}

export function clusterStatus(nodes: readonly NodeRecord[], leases: readonly LeaseRow[], partitions: number, now: number): ClusterStatus {
  const byRole: Record<string, number> = {}
  const byState: Record<NodeRecord['state'], number> = {active: 0, draining: 0, stopped: 0}
  for (const node of nodes) {
    for (const role of node.role.split(',')) byRole[role] = (byRole[role] ?? 0) + 1
    byState[node.state] += 1
  }

  // Partitions the cluster is configured for; a missing lease row is a partition nobody has taken yet.
  const views = partitionViews(leases, nodes, now).filter((p) => p.partition < partitions)
  const counts = {total: partitions, owned: 0, unowned: partitions - views.length, expired: 0}
  for (const view of views) counts[view.status] += 1

  const gateways = nodes.filter((n) => n.alive && n.state === 'active' && hasRole(n, 'gateway'))
  const connections = nodes.filter((n) => n.alive && hasRole(n, 'gateway')).reduce((sum, n) => sum + statNumber(n, 'connections'), 0)

  const problems: string[] = []
  if (!nodes.some((n) => n.alive && n.state === 'active' && hasRole(n, 'worker'))) problems.push('no live worker')
  const orphaned = counts.total - counts.owned
  if (orphaned > 0) problems.push(`${orphaned} ${plural(orphaned, 'partition')} without a live owner`)
  if (gateways.length === 0) problems.push('no active gateway')

  const warnings: string[] = []
  for (const node of nodes) {
    if (!node.alive && node.state !== 'stopped') warnings.push(`node ${node.id} missed its heartbeats (last ${Math.round(node.ageMs / 1000)}s ago)`)
    else if (node.alive && node.state === 'draining') warnings.push(`node ${node.id} is ${node.stats?.drained === true ? 'drained' : 'draining'}`)
  }

  return {
    nodes: {total: nodes.length, alive: nodes.filter((n) => n.alive).length, byRole, byState},
    partitions: counts,
    gateways: {active: gateways.length, connections},
    ready: problems.length === 0,
    problems,
    warnings,
  }
}

/** A drain of `node` as it would play out now: where its clients and partitions would go. */
export function planDrain(node: NodeRecord, nodes: readonly NodeRecord[], leases: readonly LeaseRow[], drain: DrainRequest): DrainPlan {
  const others = nodes.filter((n) => n.id !== node.id)
  const warnings: string[] = []

  const connections = hasRole(node, 'gateway') ? statNumber(node, 'connections') : 0
  const gatewayTargets = others.filter((n) => n.alive && n.state === 'active' && n.address && hasRole(n, 'gateway')).map((n) => n.id)
  // chooseGateway is the routing clients will get; an empty answer means they have nowhere to go.
  if (connections > 0 && chooseGateway(others, 'drain-plan') === undefined) {
    warnings.push(`no other active gateway: ${connections} ${plural(connections, 'client')} will have nowhere to reconnect`)
  }

  const workers = others.filter((n) => n.alive && n.state === 'active' && hasRole(n, 'worker')).map((n) => n.id).sort()
  const held = leases.filter((l) => l.owner === node.id).map((l) => l.partition).sort((a, b) => a - b)
  const partitions = held.map((partition) => ({partition, to: workers.length > 0 ? ownerOf(workers, partition) : null}))
  if (held.length > 0 && workers.length === 0) {
    warnings.push(`no other live worker: ${held.length} ${plural(held.length, 'partition')} will stay unowned until a worker joins or the drain is cancelled`)
  }
  if (node.state === 'draining') warnings.push(`node ${node.id} is already draining; the new deadline replaces the old one`)

  return {node: node.id, roles: node.role.split(','), state: node.state, connections, gatewayTargets, partitions, drain, warnings}
}

function partitionStatus(lease: LeaseRow, alive: ReadonlySet<string>, now: number): PartitionStatus {
  if (lease.owner === null) return 'unowned'
  return alive.has(lease.owner) && Date.parse(lease.expiresAt) > now ? 'owned' : 'expired'
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`
}
