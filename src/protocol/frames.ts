import {z} from 'zod'

import type {WireError} from '../errors.js'

// Every client-visible frame shape of protocol v1 (docs/protocol.md). Requests are validated here, at the
// edge; code behind the gateway trusts the parsed types.

export const LIMITS = {
  /** Largest text frame answered with a coded error; bigger ones close the socket with 1009. */
  maxFrameBytes: 64 * 1024,
  hardMaxFrameBytes: 1024 * 1024,
  maxBodyBytes: 16 * 1024,
  maxClientMsgId: 64,
  maxSyncLimit: 500,
  /** Deepest nesting of an object body (arrays and objects). */
  maxBodyDepth: 16,
  defaultSyncLimit: 100,
} as const

const id = z.string().min(1).max(128)
const uuid = z.uuid()
const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

// Text Postgres can store: no NUL, no unpaired surrogate (it would fail the whole batch at the worker).
const storableText = (s: string) => s.isWellFormed() && !s.includes('\u0000')
const text = z.string().refine(storableText, 'text contains NUL or an unpaired surrogate')

const body = z.union([text, z.record(z.string(), z.unknown())]).superRefine((value, ctx) => {
  const problem = unstorable(value, 0)
  if (problem) ctx.addIssue({code: 'custom', message: problem})
})

/** Why a JSON value cannot be stored as a message body, or undefined when it can. */
export function unstorable(value: unknown, depth: number): string | undefined {
  if (typeof value === 'string') return storableText(value) ? undefined : 'text contains NUL or an unpaired surrogate'
  if (typeof value !== 'object' || value === null) return undefined
  if (depth >= LIMITS.maxBodyDepth) return `body nests deeper than ${LIMITS.maxBodyDepth} levels`
  for (const [key, child] of Object.entries(value)) {
    const problem = (storableText(key) ? undefined : 'a key contains NUL or an unpaired surrogate') ?? unstorable(child, depth + 1)
    if (problem) return problem
  }
  return undefined
}

export const requestSchemas = {
  ping: z.object({}),
  'conv.direct': z.object({with: uuid}),
  send: z.object({
    conversation: uuid,
    clientMsgId: text.min(1).max(LIMITS.maxClientMsgId),
    kind: z.string().regex(/^[a-z][a-z0-9_.-]{0,31}$/, 'kind is a lower-case word such as "text"'),
    body,
    replyTo: seq.min(1).optional(),
  }),
  sync: z.object({
    conversation: uuid,
    after: seq.default(0),
    limit: z.number().int().min(1).max(LIMITS.maxSyncLimit).default(LIMITS.defaultSyncLimit),
  }),
  inbox: z.object({after: z.string().max(64).optional()}),
  receipt: z.object({conversation: uuid, type: z.enum(['delivered', 'read']), seq: seq.min(1)}),
} as const

export type OpName = keyof typeof requestSchemas
export const OP_NAMES = Object.keys(requestSchemas) as OpName[]

export type OpArgs<O extends OpName> = z.output<(typeof requestSchemas)[O]>

/** A parsed, validated request: a tagged union on `op`. */
export type Request = {[O in OpName]: {id: string; op: O; args: OpArgs<O>}}[OpName]

export function isOpName(op: string): op is OpName {
  return Object.hasOwn(requestSchemas, op)
}

// ---- results and events ----

export interface MessageView {
  conversation: string
  seq: number
  messageId: string
  sender: string
  senderDevice: string
  ts: string
  kind: string
  body: unknown
  clientMsgId: string
  replyTo?: number
}

export interface SendResult {
  seq: number
  messageId: string
  ts: string
  /** True when this clientMsgId had already been stored: nothing new was written. */
  duplicate?: boolean
}

export interface InboxEntry {
  conversation: string
  kind: 'direct' | 'group'
  lastSeq: number
  lastTs: string | null
  readSeq: number
  deliveredSeq: number
  unread: number
  members?: string[]
}

export type ResultOf<O extends OpName> = O extends 'ping'
  ? Record<string, never>
  : O extends 'conv.direct'
    ? {conversation: string; kind: 'direct'; members: string[]}
    : O extends 'send'
      ? SendResult
      : O extends 'sync'
        ? {messages: MessageView[]; hasMore: boolean}
        : O extends 'inbox'
          ? {conversations: InboxEntry[]; token: string}
          : O extends 'receipt'
            ? {seq: number}
            : never

export type MessageEvent = {ev: 'message'} & MessageView
export interface ReceiptEvent {
  ev: 'receipt'
  conversation: string
  user: string
  device: string
  type: 'delivered' | 'read'
  seq: number
}
export interface ReconnectEvent {
  ev: 'reconnect'
  reason: string
  url?: string
  after?: number
}
export interface ErrorEvent {
  ev: 'error'
  error: WireError
}
export interface HelloEvent {
  ev: 'hello'
  user: string
  device: string
  node: string
  heartbeatMs: number
  limits: {maxFrameBytes: number; maxBodyBytes: number}
}

export type ServerEvent = MessageEvent | ReceiptEvent | ReconnectEvent | ErrorEvent | HelloEvent

export type Reply = {re: string; ok: true; [key: string]: unknown} | {re: string; ok: false; error: WireError}
