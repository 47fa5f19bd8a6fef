import {createHash} from 'node:crypto'

import type {NodeRecord} from './node-registry.js'

// Connection-shard routing: which gateway a client should connect to. Least connections, weighted by
// capacity, never a draining or dead node; among gateways within a small load band the choice is sticky
// per user (rendezvous hashing), so a reconnecting client tends to land where it was.

export interface GatewayChoice {
  node: string
  address: string
  connections: number
  /** The gateway serves TLS itself (its heartbeat says so): clients use wss://. */
  tls: boolean
}

/** Gateways whose load (connections ÷ capacity) is within this fraction of the least loaded share a band. */
const STICKY_BAND = 0.1

export function chooseGateway(nodes: readonly NodeRecord[], userId: string, defaultCapacity = 100_000): GatewayChoice | undefined {
  const candidates = nodes
    .filter((n) => n.alive && n.state === 'active' && n.address && n.role.split(',').includes('gateway'))
    .map((n) => {
      const connections = Number(n.stats.connections ?? 0)
      const capacity = Math.max(1, Number(n.stats.capacity ?? defaultCapacity))
      return {node: n.id, address: n.address!, connections, load: connections / capacity, tls: n.stats.tls === true}
    })
  if (candidates.length === 0) return undefined
  const least = Math.min(...candidates.map((c) => c.load))
  const band = candidates.filter((c) => c.load <= least + STICKY_BAND)
  let best = band[0]!
  let bestScore = -1n
  for (const c of band) {
    const score = createHash('sha256').update(`${userId}\u0000${c.node}`).digest().readBigUInt64BE(0)
    if (score > bestScore) {
      best = c
      bestScore = score
    }
  }
  return {node: best.node, address: best.address, connections: best.connections, tls: best.tls}
}
