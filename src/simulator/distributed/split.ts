import type {Phase, Progress} from '../types.js'

// Pure helpers of the controller: who gets which users and source addresses, and one progress line out of
// every agent's latest snapshot.

/** `total` users in `parts` contiguous ranges whose sizes differ by at most one. */
export function splitUsers(total: number, parts: number): Array<{from: number; count: number}> {
  if (!Number.isInteger(parts) || parts < 1) throw new Error(`agents: need at least 1, got ${parts}`)
  if (!Number.isInteger(total) || total < 2 * parts) {
    throw new Error(`users: ${total} users cannot be split over ${parts} agents (at least 2 users per agent)`)
  }
  const base = Math.floor(total / parts)
  const extra = total % parts
  const ranges: Array<{from: number; count: number}> = []
  let from = 0
  for (let i = 0; i < parts; i++) {
    const count = base + (i < extra ? 1 : 0)
    ranges.push({from, count})
    from += count
  }
  return ranges
}

/** Whether addressesFor deals each agent addresses of its own (then an agent may choose its source ports). */
export function sharesAreDisjoint(addresses: readonly string[], parts: number): boolean {
  return addresses.length >= parts
}

/**
 * Source addresses of agent `index` of `parts`: a disjoint share when there are at least as many addresses
 * as agents, otherwise all of them, rotated so that agents start on different ones (each source/destination
 * pair has its own ephemeral port range, so sharing a source address is fine).
 */
export function addressesFor(addresses: readonly string[], parts: number, index: number): string[] {
  if (addresses.length === 0) return []
  if (sharesAreDisjoint(addresses, parts)) return addresses.filter((_, j) => j % parts === index)
  const start = index % addresses.length
  return [...addresses.slice(start), ...addresses.slice(0, start)]
}

const PHASES: readonly Phase[] = ['login', 'ramp-up', 'steady', 'ramp-down', 'settle', 'final-sync', 'done']

/**
 * One snapshot of the whole run: counts add up, the phase is the least advanced agent's, latency figures
 * are the worst agent's (an upper bound; the exact merged histograms come with the results).
 */
export function mergeProgress(runId: string, snapshots: readonly Progress[]): Progress {
  const sum = (pick: (p: Progress) => number) => snapshots.reduce((a, p) => a + pick(p), 0)
  const worst = (pick: (p: Progress) => number | undefined) => {
    const values = snapshots.map(pick).filter((v): v is number => v !== undefined)
    return values.length > 0 ? Math.max(...values) : undefined
  }
  const phase = snapshots.length === 0 ? 'login' : PHASES[Math.min(...snapshots.map((p) => PHASES.indexOf(p.phase)))]!
  const merged: Progress = {
    runId,
    phase,
    elapsedMs: snapshots.reduce((a, p) => Math.max(a, p.elapsedMs), 0),
    users: sum((p) => p.users),
    devices: sum((p) => p.devices),
    loggedIn: sum((p) => p.loggedIn),
    connections: sum((p) => p.connections),
    sent: sum((p) => p.sent),
    acked: sum((p) => p.acked),
    deliveredEvents: sum((p) => p.deliveredEvents),
    errors: sum((p) => p.errors),
    ackRate: sum((p) => p.ackRate),
    pending: sum((p) => p.pending),
    ...(snapshots.some((p) => p.finalSync) ? {finalSync: {done: sum((p) => p.finalSync?.done ?? 0), total: sum((p) => p.finalSync?.total ?? 0)}} : {}),
    audit: {
      outOfOrder: sum((p) => p.audit.outOfOrder),
      duplicated: sum((p) => p.audit.duplicated),
      seqConflicts: sum((p) => p.audit.seqConflicts),
      redelivered: sum((p) => p.audit.redelivered),
    },
  }
  const p50 = worst((p) => p.deliveryP50Ms)
  const p99 = worst((p) => p.deliveryP99Ms)
  const ack = worst((p) => p.ackP99Ms)
  if (p50 !== undefined) merged.deliveryP50Ms = p50
  if (p99 !== undefined) merged.deliveryP99Ms = p99
  if (ack !== undefined) merged.ackP99Ms = ack
  return merged
}
