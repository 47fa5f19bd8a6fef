import type {StatusWithCanary} from '../control-plane/canary-status.js'
import type {DrainPlan, PartitionView} from '../control-plane/cluster-status.js'
import {statNumber} from '../control-plane/cluster-status.js'
import type {DrainProgress, DrainResult} from '../control-plane/admin-client.js'
import type {NodeResponse} from '../control-plane/admin-api.js'
import type {NodeRecord} from '../control-plane/node-registry.js'
import {canaryLine, leaderOf} from './canary-format.js'
import {formatDuration} from './duration.js'

// Human output of the operator commands (the --json output is the API's own shape).

/** Left-aligned columns separated by two spaces, like `nats server list` and `kubectl get`. */
export function renderTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '-'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`
}

/** CPU time the node's process used: stats.cpu is process.cpuUsage() (microseconds). */
export function cpuSeconds(node: Pick<NodeRecord, 'stats'>): number | undefined {
  const cpu = node.stats?.cpu as {user?: unknown; system?: unknown} | undefined
  if (!cpu || typeof cpu !== 'object') return undefined
  const micros = Number(cpu.user ?? 0) + Number(cpu.system ?? 0)
  return Number.isFinite(micros) ? micros / 1e6 : undefined
}

/** draining, or drained once the node reports it has nothing left. */
export function stateLabel(node: NodeRecord): string {
  return node.state === 'draining' && node.stats?.drained === true ? 'drained' : node.state
}

export function nodesTable(nodes: readonly NodeRecord[]): string {
  if (nodes.length === 0) return 'no nodes have registered'
  const rows = nodes.map((n) => {
    const cpu = cpuSeconds(n)
    const gateway = n.role.split(',').includes('gateway')
    const worker = n.role.split(',').includes('worker')
    return [
      n.id,
      n.role,
      stateLabel(n),
      n.alive ? 'yes' : `no (${formatDuration(n.ageMs / 1000)})`,
      gateway ? String(statNumber(n, 'connections')) : '-',
      worker ? String(statNumber(n, 'partitions')) : '-',
      cpu === undefined ? '-' : `${cpu.toFixed(1)}s`,
      formatBytes(statNumber(n, 'rssBytes')),
      n.alive ? formatDuration(statNumber(n, 'uptimeSec')) : '-',
      n.version,
    ]
  })
  const alive = nodes.filter((n) => n.alive)
  const conns = alive.reduce((sum, n) => sum + statNumber(n, 'connections'), 0)
  const parts = alive.reduce((sum, n) => sum + statNumber(n, 'partitions'), 0)
  const leader = leaderOf(nodes)
  const footer = `${nodes.length} ${nodes.length === 1 ? 'node' : 'nodes'}, ${alive.length} alive, ${conns} connections, ${parts} partitions owned${leader ? `; control-plane leader ${leader}` : ''}`
  return `${renderTable(['ID', 'ROLE', 'STATE', 'ALIVE', 'CONNS', 'PARTS', 'CPU', 'MEM', 'UPTIME', 'VERSION'], rows)}\n\n${footer}`
}

export function nodeDetails({node, leases}: NodeResponse): string {
  const cpu = cpuSeconds(node)
  const lines: Array<[string, string]> = [
    ['ID', node.id],
    ['Roles', node.role.split(',').join(', ')],
    ['Address', node.address ?? '-'],
    ['Version', node.version],
    ['State', stateLabel(node)],
    ['Alive', node.alive ? `yes (heartbeat ${formatDuration(node.ageMs / 1000)} ago)` : `no (last heartbeat ${formatDuration(node.ageMs / 1000)} ago)`],
    ['Started', node.startedAt],
    ['Uptime', formatDuration(statNumber(node, 'uptimeSec'))],
    ['Connections', String(statNumber(node, 'connections'))],
    ['Partitions', leases.length === 0 ? 'none' : `${leases.length}: ${ranges(leases.map((l) => l.partition))}`],
    ['Queued', String(statNumber(node, 'queued'))],
    ['Stored', String(statNumber(node, 'stored'))],
    ['CPU', cpu === undefined ? '-' : `${cpu.toFixed(1)}s`],
    ['Memory', formatBytes(statNumber(node, 'rssBytes'))],
    ...(typeof node.stats?.leader === 'boolean' ? [['Leader', node.stats.leader ? 'yes (runs the canary)' : 'no'] as [string, string]] : []),
  ]
  if (node.drain) {
    lines.push(
      ['Drain', `${node.drain.force ? 'forced, ' : ''}requested ${node.drain.requestedAt}, deadline ${node.drain.deadlineAt}`],
      ['Drain reason', node.drain.reason],
    )
  }
  return keyValues(lines)
}

export function partitionsTable(partitions: readonly PartitionView[], now: number): string {
  if (partitions.length === 0) return 'no partitions yet (no worker has started)'
  const rows = partitions.map((p) => {
    const inMs = Date.parse(p.expiresAt) - now
    const expires = p.owner === null ? '-' : inMs >= 0 ? `in ${formatDuration(inMs / 1000)}` : `${formatDuration(-inMs / 1000)} ago`
    return [String(p.partition), p.owner ?? '-', String(p.epoch), p.status, expires]
  })
  const count = (s: PartitionView['status']) => partitions.filter((p) => p.status === s).length
  const footer = `${partitions.length} partitions: ${count('owned')} owned, ${count('unowned')} unowned, ${count('expired')} expired`
  return `${renderTable(['PARTITION', 'OWNER', 'EPOCH', 'STATUS', 'EXPIRES'], rows)}\n\n${footer}`
}

export function statusText(status: StatusWithCanary): string {
  const roles = Object.entries(status.nodes.byRole)
    .map(([role, n]) => `${n} ${role}`)
    .join(', ')
  const states = Object.entries(status.nodes.byState)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ')
  const p = status.partitions
  return keyValues([
    ['Cluster', status.ready ? 'ready' : 'NOT READY'],
    ['Nodes', `${status.nodes.total} (${status.nodes.alive} alive)${roles ? `: ${roles}` : ''}${states ? `; ${states}` : ''}`],
    ['Partitions', `${p.total}: ${p.owned} owned, ${p.unowned} unowned, ${p.expired} expired`],
    ['Gateways', `${status.gateways.active} active, ${status.gateways.connections} connections`],
    ['Problems', status.problems.length === 0 ? 'none' : status.problems.join('; ')],
    ...(status.warnings.length > 0 ? [['Warnings', status.warnings.join('; ')] as [string, string]] : []),
    ...(status.canary ? [['Canary', canaryLine(status.canary)] as [string, string]] : []),
  ])
}

export function drainPlanText(plan: DrainPlan): string {
  const moves = new Map<string, number[]>()
  for (const {partition, to} of plan.partitions) moves.set(to ?? '(nobody)', [...(moves.get(to ?? '(nobody)') ?? []), partition])
  const lines = [
    `Dry run: drain of ${plan.node} (${plan.roles.join(', ')}; ${plan.state}); nothing was changed.`,
    `  deadline    ${formatDuration((Date.parse(plan.drain.deadlineAt) - Date.parse(plan.drain.requestedAt)) / 1000)}${plan.drain.force ? ' (forced: connections closed at once)' : ''}`,
    `  reason      ${plan.drain.reason}`,
    `  clients     ${clientsLine(plan)}`,
    `  partitions  ${plan.partitions.length === 0 ? 'none held' : `${plan.partitions.length} would move`}`,
    ...[...moves].map(([to, ps]) => `    → ${to}: ${ranges(ps)}`),
    ...plan.warnings.map((w) => `  warning: ${w}`),
  ]
  return lines.join('\n')
}

export function progressLine(p: DrainProgress): string {
  const deadline = p.deadlineInSec >= 0 ? `deadline in ${formatDuration(p.deadlineInSec)}` : `deadline passed ${formatDuration(-p.deadlineInSec)} ago`
  return `${p.node}: ${p.connections} connections, ${p.partitions} partitions left; ${formatDuration(p.elapsedSec)} elapsed, ${deadline}`
}

export function drainResultText(result: DrainResult): string {
  switch (result.outcome) {
    case 'dry_run':
      return drainPlanText(result.plan)
    case 'requested':
      return `node ${result.node.id} draining (deadline ${result.drain.deadlineAt}); follow with: msgr node inspect ${result.node.id}`
    case 'drained':
      return `node ${result.node.id} drained in ${formatDuration(result.elapsedSec)}`
    case 'stopped':
      return `node ${result.node.id} stopped after ${formatDuration(result.elapsedSec)}`
    case 'timed_out':
      return `node ${result.node.id} not drained by the deadline: ${result.left.connections} connections and ${result.left.partitions} partitions left`
    case 'cancelled':
      return `drain of ${result.node.id} was cancelled (the node is active again)`
    case 'lost':
      return `node ${result.node.id} stopped heartbeating during the drain (last ${formatDuration(result.node.ageMs / 1000)} ago)`
  }
}

function clientsLine(plan: DrainPlan): string {
  if (!plan.roles.includes('gateway')) return 'none (not a gateway)'
  if (plan.connections === 0) return 'none connected'
  const targets = plan.gatewayTargets.length > 0 ? ` to ${plan.gatewayTargets.join(', ')}` : ''
  return `${plan.connections} would be asked to reconnect${targets}`
}

/** 0-3, 7, 9-11 */
export function ranges(numbers: readonly number[]): string {
  const sorted = [...numbers].sort((a, b) => a - b)
  const out: string[] = []
  for (let i = 0; i < sorted.length; ) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++
    out.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`)
    i = j + 1
  }
  return out.join(', ')
}

function keyValues(lines: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...lines.map(([k]) => k.length))
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n')
}
