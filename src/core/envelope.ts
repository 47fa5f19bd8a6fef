import {z} from 'zod'

import type {WireError} from '../errors.js'
import {groupCommandSchema} from './group-rules.js'
import {contentCommandSchema} from './message-rules.js'
import type {ServerEvent} from '../protocol/frames.js'

// Payloads that travel on the bus between processes. JSON today; the shapes are the contract.

/** A `send` accepted by a gateway, on its way to the partition's worker through the durable stream. */
export const ingestEnvelopeSchema = z.object({
  v: z.literal(1),
  conv: z.string(),
  sender: z.string(),
  senderDevice: z.string(),
  clientMsgId: z.string(),
  kind: z.string(),
  body: z.unknown(),
  replyTo: z.number().int().optional(),
  /** A group command instead of a message: applied in seq order, recorded as a system message. */
  cmd: z.union([groupCommandSchema, contentCommandSchema]).optional(),
  /** Server-set attribution, e.g. {forwardedFrom: {conversation, seq, sender}}. */
  meta: z.record(z.string(), z.unknown()).optional(),
  /** Gateway node that waits for the outcome. */
  gw: z.string(),
  /** Gateway receive time (ms since epoch), for end-to-end latency metrics. */
  at: z.number(),
})
export type IngestEnvelope = z.infer<typeof ingestEnvelopeSchema>

export type SendOutcome =
  | {key: string; ok: true; seq: number; messageId: string; ts: string; duplicate: boolean; result?: Record<string, unknown>}
  /** A group command that changed nothing in the stream (no system message). */
  | {key: string; ok: true; seq: null; messageId: null; ts: null; duplicate: false; result?: Record<string, unknown>}
  | {key: string; ok: false; error: WireError}

/** An ephemeral event for some users, outside any seq stream (e.g. a join request for the admins). */
export interface Notice {
  users: string[]
  event: {ev: 'group.request'; conversation: string; user: string}
}

export interface Delivery {
  /** Users whose live connections on the receiving gateway get the event. */
  users: string[]
  /** The device that produced the event already knows it (it got the reply). */
  skipDevice?: string
  event: ServerEvent
  /** Devices on the receiving gateway that get a push if none of their sockets takes the event (src/server/push/planner.ts). */
  push?: DevicePush[]
}

export interface DevicePush {
  user: string
  device: string
}

/** What a node's mailbox receives: outcomes for sends it published, and events to hand to its sockets. */
export interface NodeBatch {
  t: 'batch'
  acks?: SendOutcome[]
  deliveries?: Delivery[]
  /** Devices just logged out (device.logout): their sockets are closed with 4401. */
  logout?: DevicePush[]
}

export type NodeMessage = NodeBatch

export function sendKey(conversation: string, sender: string, clientMsgId: string): string {
  return `${conversation}|${sender}|${clientMsgId}`
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

export function decodeJson<T>(data: Uint8Array): T {
  return JSON.parse(decoder.decode(data)) as T
}
