import {encodeJson, type NodeBatch} from '../src/core/envelope.js'
import {type FanoutItem, mergeNodeBatches, planFanout} from '../src/core/fanout.js'
import type {Route} from '../src/core/ports.js'
import type {MessageEvent} from '../src/protocol/frames.js'
import {compareSync, fmtInt, fmtRatio, opsPerSecond, round} from './measure.js'
import type {Table} from './table.js'

// Fanout of one group message: planFanout groups recipients by the gateway that holds their
// connections, so the bus carries one message per gateway. Baseline: per-recipient fanout (one bus
// message per recipient connection), the way a naive worker would publish. Both sides also encode
// what they would publish, as the fanout publisher does, so the ratio compares the work per group message.

export interface FanoutRun {
  recipients: number
  gateways: number
  /** planFanout alone. */
  plansPerSecond: number
  deliveriesPerSecond: number
  /** Bus messages one group message becomes: planFanout (should equal `gateways`) vs per-recipient. */
  nodeMessagesPerGroupMessage: number
  baselineNodeMessages: number
  busBytes: number
  baselineBusBytes: number
  /** Plan + encode per group message: per-recipient baseline vs planFanout, ops/s. */
  baseline: number
  subject: number
  ratio: number
}

export interface FanoutResult {
  baseline: string
  runs: FanoutRun[]
}

export const FANOUT_GROUP_SIZES = [10, 250, 5000] as const
export const GATEWAYS = 4

export function benchFanout(options: {sizes?: readonly number[]; gateways?: number; roundMs?: number} = {}): {result: FanoutResult; tables: Table[]} {
  const gateways = options.gateways ?? GATEWAYS
  const roundMs = options.roundMs ?? 200
  const runs: FanoutRun[] = []
  for (const size of options.sizes ?? FANOUT_GROUP_SIZES) {
    const {items, routesByNode} = groupMessage(size, gateways)
    const plan = planFanout(items, routesByNode)
    const delivered = [...plan.values()].flat().reduce((n, d) => n + d.users.length, 0)
    if (delivered !== size) throw new Error(`planFanout addressed ${delivered} of ${size} recipients`)
    const ours = planned(items, routesByNode)
    const naive = perRecipient(items, routesByNode)

    const plansPerSecond = opsPerSecond(() => planFanout(items, routesByNode), roundMs)
    const cmp = compareSync(
      `fanout/${size} recipients`,
      () => encodeAll(perRecipient(items, routesByNode)),
      () => encodeAll(planned(items, routesByNode)),
      {roundMs},
    )
    runs.push({
      recipients: size,
      gateways,
      plansPerSecond: round(plansPerSecond, 1),
      deliveriesPerSecond: round(plansPerSecond * size, 1),
      nodeMessagesPerGroupMessage: ours.length,
      baselineNodeMessages: naive.length,
      busBytes: encodeAll(ours),
      baselineBusBytes: encodeAll(naive),
      baseline: cmp.baseline,
      subject: cmp.subject,
      ratio: cmp.ratio,
    })
  }
  const result: FanoutResult = {baseline: 'one bus message per recipient connection (per-recipient fanout), JSON-encoded', runs}
  const table: Table = {
    title: `fanout — one group message to N recipients over ${gateways} gateways`,
    columns: ['recipients', 'plans/s', 'deliveries/s', 'node msgs/group msg', 'baseline msgs', 'bus KiB', 'baseline KiB', 'baseline ops/s', 'msgr ops/s', 'ratio'],
    rows: runs.map((r) => [
      r.recipients,
      fmtInt(r.plansPerSecond),
      fmtInt(r.deliveriesPerSecond),
      `${r.nodeMessagesPerGroupMessage}${r.nodeMessagesPerGroupMessage === r.gateways ? '' : ` (≠ ${r.gateways}!)`}`,
      fmtInt(r.baselineNodeMessages),
      (r.busBytes / 1024).toFixed(1),
      (r.baselineBusBytes / 1024).toFixed(1),
      fmtInt(r.baseline),
      fmtInt(r.subject),
      fmtRatio(r.ratio),
    ]),
    notes: [
      'plans/s, deliveries/s: planFanout alone (deliveries = recipients addressed). One connection per recipient, round-robin over gateways.',
      'baseline/msgr ops/s: plan + JSON-encode every bus message of one group message (msgr: planFanout + mergeNodeBatches, as the publisher does);',
      'ratio = msgr ÷ baseline (higher is better). Bus publish itself is not included.',
    ],
  }
  return {result, tables: [table]}
}

/** One group message and the registry's answer for its recipients: one device each, spread round-robin. */
function groupMessage(size: number, gateways: number): {items: FanoutItem[]; routesByNode: Map<string, Route[]>} {
  const conversation = '0192f1c4-8a6e-7b3d-9c1f-2e4a6b8d0f13'
  const users = Array.from({length: size}, (_, i) => `0192f1c4-0000-7000-8000-${i.toString(16).padStart(12, '0')}`)
  const routesByNode = new Map<string, Route[]>()
  users.forEach((userId, i) => {
    const nodeId = `gateway-${i % gateways}`
    let routes = routesByNode.get(nodeId)
    if (!routes) routesByNode.set(nodeId, (routes = []))
    routes.push({userId, deviceId: `${userId.slice(0, -4)}d000`, connId: `c${i}`, nodeId})
  })
  const event: MessageEvent = {
    ev: 'message',
    conversation,
    seq: 4711,
    messageId: '0192f1c4-9999-7000-8000-000000000001',
    sender: users[0]!,
    senderDevice: `${users[0]!.slice(0, -4)}d000`,
    ts: '2024-11-29T05:00:00.000Z',
    kind: 'text',
    body: 'hey, are we still on for lunch tomorrow?',
    clientMsgId: 'c-1842',
  }
  return {items: [{recipients: users, skipDevice: event.senderDevice, event}], routesByNode}
}

/** The baseline: every recipient connection gets its own bus message. */
function perRecipient(items: readonly FanoutItem[], routesByNode: ReadonlyMap<string, readonly Route[]>): BusMessage[] {
  const routesByUser = new Map<string, Route[]>()
  for (const routes of routesByNode.values()) {
    for (const route of routes) {
      let list = routesByUser.get(route.userId)
      if (!list) routesByUser.set(route.userId, (list = []))
      list.push(route)
    }
  }
  const out: BusMessage[] = []
  for (const item of items) {
    for (const user of item.recipients) {
      for (const route of routesByUser.get(user) ?? []) {
        out.push({node: route.nodeId, batch: {t: 'batch', deliveries: [{users: [user], skipDevice: item.skipDevice, event: item.event}]}})
      }
    }
  }
  return out
}

/** What msgr publishes: planFanout, merged into one batch per gateway, as the fanout publisher does. */
function planned(items: readonly FanoutItem[], routesByNode: ReadonlyMap<string, readonly Route[]>): BusMessage[] {
  return [...mergeNodeBatches([], planFanout(items, routesByNode))].map(([node, batch]) => ({node, batch}))
}

interface BusMessage {
  node: string
  batch: NodeBatch
}

/** JSON-encodes every bus message; returns the bytes that would go on the bus. */
function encodeAll(messages: readonly BusMessage[]): number {
  let bytes = 0
  for (const message of messages) bytes += encodeJson(message.batch).byteLength
  return bytes
}
