import type {Delivery, NodeBatch, SendOutcome} from './envelope.js'
import type {Route} from './ports.js'

// Connection-locality fanout: one bus message per gateway, carrying every recipient it hosts.

export type FanoutStrategy = 'direct' | 'batched' | 'staged'

/** The seed's adaptive fanout by audience size: small groups go straight out, large ones in stages. */
export function fanoutStrategy(recipients: number): FanoutStrategy {
  if (recipients < FANOUT.batchedFrom) return 'direct'
  if (recipients <= FANOUT.stagedAbove) return 'batched'
  return 'staged'
}

export const FANOUT = {
  batchedFrom: 10,
  stagedAbove: 250,
  /** Users per registry pipeline when a fanout is staged. */
  lookupChunk: 1000,
  /** Sockets a gateway writes before yielding to its event loop, for staged deliveries. */
  socketSlice: 500,
} as const

export interface FanoutItem {
  recipients: readonly string[]
  skipDevice?: string
  event: Delivery['event']
}

/** Groups events by the gateways that hold their recipients' connections. */
export function planFanout(items: readonly FanoutItem[], routesByNode: ReadonlyMap<string, readonly Route[]>): Map<string, Delivery[]> {
  const nodesByUser = new Map<string, Set<string>>()
  for (const [node, routes] of routesByNode) {
    for (const route of routes) {
      let nodes = nodesByUser.get(route.userId)
      if (!nodes) nodesByUser.set(route.userId, (nodes = new Set()))
      nodes.add(node)
    }
  }
  const out = new Map<string, Delivery[]>()
  for (const item of items) {
    const usersByNode = new Map<string, string[]>()
    for (const user of item.recipients) {
      for (const node of nodesByUser.get(user) ?? []) {
        let users = usersByNode.get(node)
        if (!users) usersByNode.set(node, (users = []))
        users.push(user)
      }
    }
    for (const [node, users] of usersByNode) {
      let list = out.get(node)
      if (!list) out.set(node, (list = []))
      list.push(item.skipDevice ? {users, skipDevice: item.skipDevice, event: item.event} : {users, event: item.event})
    }
  }
  return out
}

/** Merges send outcomes (addressed to the gateway that waits for them) and deliveries into one batch per node. */
export function mergeNodeBatches(acks: readonly (SendOutcome & {node: string})[], deliveries: ReadonlyMap<string, Delivery[]>): Map<string, NodeBatch> {
  const batches = new Map<string, NodeBatch>()
  const batchFor = (node: string): NodeBatch => {
    let batch = batches.get(node)
    if (!batch) batches.set(node, (batch = {t: 'batch'}))
    return batch
  }
  for (const {node, ...outcome} of acks) (batchFor(node).acks ??= []).push(outcome as SendOutcome)
  for (const [node, list] of deliveries) (batchFor(node).deliveries ??= []).push(...list)
  return batches
}
