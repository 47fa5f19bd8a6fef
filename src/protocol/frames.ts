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
  /** Members of one group, owner included. */
  maxGroupMembers: 5000,
  /** Above this many members, receipts are not fanned out to the other members. */
  receiptFanoutMembers: 256,
  /** Members one group.add / group.remove may name. */
  maxMembersPerChange: 1000,
  /** Deepest nesting of an object body (arrays and objects). */
  maxBodyDepth: 16,
  defaultSyncLimit: 100,
  /** search: page size bounds and the longest query (characters). */
  maxSearchLimit: 50,
  defaultSearchLimit: 20,
  maxSearchQuery: 200,
  /** push.history page size. */
  maxPushHistory: 100,
  defaultPushHistory: 20,
  /** End-to-end encryption (docs/e2e.md): one-time prekeys per keys.upload, and the `kind` whose body is an envelope. */
  maxPreKeysPerUpload: 200,
  /** A `send` of kind `encrypted` may carry this much (one ciphertext per recipient device). */
  maxEncryptedBodyBytes: 56 * 1024,
  /** Devices one keys.bundle may name. */
  maxBundleDevices: 100,
} as const

/** The `send` kind of an end-to-end-encrypted message: its body is an envelope (docs/e2e.md) the server cannot read. */
export const E2E_KIND = 'encrypted'

const id = z.string().min(1).max(128)
const uuid = z.uuid()
const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

// Text Postgres can store: no NUL, no unpaired surrogate (it would fail the whole batch at the worker).
const storableText = (s: string) => s.isWellFormed() && !s.includes('\u0000')
const text = z.string().refine(storableText, 'text contains NUL or an unpaired surrogate')

/** Stream entry kinds only the server writes: a client's `send` may not forge them. */
export const SERVER_KINDS: ReadonlySet<string> = new Set(['system', 'reaction', 'edit', 'delete'])

const groupName = text.min(1).max(100)
const groupDescription = text.max(500)
const groupPicture = text.max(512)
const inviteCode = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'invite code: 8-64 URL-safe characters')

// Public keys and signatures of end-to-end encryption, base64 (a Kyber-1024 public key is 1,569 bytes).
const e2eKey = z.string().min(4).max(4096).regex(/^[A-Za-z0-9+/]+={0,2}$/, 'a base64 key')
const keyId = z.number().int().min(0).max(0xffffff)
const signedKey = z.object({id: keyId, publicKey: e2eKey, signature: e2eKey})

const base64url = z.string().min(1).regex(/^[A-Za-z0-9_-]+={0,2}$/, 'base64url')
const timeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day as HH:MM')

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
    clientMsgId: text.min(1).max(LIMITS.maxClientMsgId).refine((id) => !id.startsWith('cmd:'), 'clientMsgId may not start with "cmd:"'),
    kind: z
      .string()
      .regex(/^[a-z][a-z0-9_.-]{0,31}$/, 'kind is a lower-case word such as "text"')
      .refine((k) => !SERVER_KINDS.has(k), 'this kind is written by the server only (use react, edit, delete or the group ops)'),
    body,
    replyTo: seq.min(1).optional(),
  }),
  sync: z.object({
    conversation: uuid,
    after: seq.default(0),
    limit: z.number().int().min(1).max(LIMITS.maxSyncLimit).default(LIMITS.defaultSyncLimit),
  }),
  inbox: z.object({after: z.string().max(64).optional()}),
  search: z.object({
    query: text.min(1).max(LIMITS.maxSearchQuery).refine((q) => q.trim() !== '', 'query is empty'),
    conversation: uuid.optional(),
    limit: z.number().int().min(1).max(LIMITS.maxSearchLimit).default(LIMITS.defaultSearchLimit),
    cursor: z.string().max(200).optional(),
  }),
  receipt: z.object({conversation: uuid, type: z.enum(['delivered', 'read']), seq: seq.min(1)}),
  'conv.settings': z
    .object({conversation: uuid, muted: z.boolean().optional(), archived: z.boolean().optional()})
    .refine((a) => a.muted !== undefined || a.archived !== undefined, 'pass muted and/or archived'),
  'group.create': z.object({
    name: groupName,
    members: z.array(uuid).max(LIMITS.maxGroupMembers - 1).default([]),
    description: groupDescription.optional(),
    picture: groupPicture.optional(),
  }),
  'group.info': z.object({conversation: uuid}),
  'group.update': z
    .object({conversation: uuid, name: groupName.optional(), description: groupDescription.optional(), picture: groupPicture.optional()})
    .refine((a) => a.name !== undefined || a.description !== undefined || a.picture !== undefined, 'pass name, description and/or picture'),
  'group.add': z.object({conversation: uuid, members: z.array(uuid).min(1).max(LIMITS.maxMembersPerChange)}),
  'group.remove': z.object({conversation: uuid, members: z.array(uuid).min(1).max(LIMITS.maxMembersPerChange)}),
  'group.leave': z.object({conversation: uuid}),
  'group.delete': z.object({conversation: uuid}),
  'group.promote': z.object({conversation: uuid, member: uuid}),
  'group.demote': z.object({conversation: uuid, member: uuid}),
  'group.ban': z.object({conversation: uuid, member: uuid}),
  'group.unban': z.object({conversation: uuid, member: uuid}),
  'group.invite.create': z.object({conversation: uuid, approval: z.boolean().default(false)}),
  'group.invite.revoke': z.object({conversation: uuid, code: inviteCode}),
  'group.join': z.object({code: inviteCode}),
  'group.requests': z.object({conversation: uuid}),
  'group.approve': z.object({conversation: uuid, member: uuid}),
  'group.deny': z.object({conversation: uuid, member: uuid}),
  react: z.object({conversation: uuid, seq: seq.min(1), emoji: text.min(1).max(32), remove: z.boolean().default(false)}),
  edit: z.object({conversation: uuid, seq: seq.min(1), body}),
  versions: z.object({conversation: uuid, seq: seq.min(1)}),
  delete: z.object({conversation: uuid, seq: seq.min(1), scope: z.enum(['everyone', 'me'])}),
  forward: z.object({
    conversation: uuid,
    clientMsgId: text.min(1).max(LIMITS.maxClientMsgId),
    from: z.object({conversation: uuid, seq: seq.min(1)}),
  }),
  typing: z.object({conversation: uuid, state: z.boolean()}),
  'presence.set': z.object({status: z.enum(['online', 'away', 'busy', 'offline']), custom: text.max(140).optional()}),
  'presence.get': z.object({users: z.array(uuid).min(1).max(200)}),
  'user.block': z.object({user: uuid}),
  'user.unblock': z.object({user: uuid}),
  'user.blocks': z.object({}),
  'device.list': z.object({}),
  'device.rename': z.object({device: uuid.optional(), name: text.min(1).max(64).refine((n) => n.trim() !== '', 'name is empty')}),
  'device.logout': z.object({device: uuid.optional()}),
  'push.register': z.discriminatedUnion('provider', [
    z.object({
      provider: z.literal('webpush'),
      subscription: z.object({
        endpoint: z.url({protocol: /^https?$/}).max(2048),
        keys: z.object({p256dh: base64url.max(128), auth: base64url.max(64)}),
      }),
    }),
    z.object({provider: z.enum(['fcm', 'apns', 'log']), token: z.string().min(1).max(4096).regex(/^[\x21-\x7e]+$/, 'token: printable ASCII')}),
  ]),
  'push.unregister': z.object({}),
  'notify.prefs': z.object({
    enabled: z.boolean().optional(),
    previews: z.boolean().optional(),
    quietHours: z
      .object({start: timeOfDay, end: timeOfDay, utcOffsetMin: z.number().int().min(-840).max(840).default(0)})
      .nullable()
      .optional(),
  }),
  'push.history': z.object({device: uuid.optional(), limit: z.number().int().min(1).max(LIMITS.maxPushHistory).default(LIMITS.defaultPushHistory)}),
  'keys.upload': z
    .object({
      identityKey: e2eKey.optional(),
      registrationId: z.number().int().min(1).max(16380).optional(),
      signedPreKey: signedKey.optional(),
      kyberPreKey: signedKey.optional(),
      preKeys: z.array(z.object({id: keyId, publicKey: e2eKey})).max(LIMITS.maxPreKeysPerUpload).default([]),
    })
    .refine((a) => (a.identityKey === undefined) === (a.registrationId === undefined), 'pass identityKey and registrationId together'),
  'keys.count': z.object({}),
  'keys.devices': z.object({user: uuid}),
  'keys.bundle': z.object({user: uuid, devices: z.array(uuid).min(1).max(LIMITS.maxBundleDevices).optional()}),
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
  /** Set when the message was forwarded from another conversation. */
  forwardedFrom?: {conversation: string; seq: number; sender: string}
  /** Tombstone of a message deleted for everyone (body is null; the seq stays). */
  deleted?: true
  /** Deleted for the caller only (sync of that user; body is null). */
  hidden?: true
  edited?: true
  editedAt?: string
  version?: number
  /** sync only: {emoji: count} */
  reactions?: Record<string, number>
}

/** A search result: the message as sync shows it, with its text rank and a «highlighted» snippet. */
export type SearchHit = MessageView & {rank?: number; snippet?: string}

export interface SearchResult {
  /** Newest first: created_at, then conversation, then seq, all descending. */
  results: SearchHit[]
  /** Present when more results follow: pass it back as `cursor` for the next page. */
  cursor?: string
}

export interface SendResult {
  seq: number
  messageId: string
  ts: string
  /** True when this clientMsgId had already been stored: nothing new was written. */
  duplicate?: boolean
}

export type GroupRole = 'owner' | 'admin' | 'member'

export interface GroupInfo {
  conversation: string
  kind: 'group'
  name: string
  description: string | null
  picture: string | null
  lastSeq: number
  members: Array<{user: string; role: GroupRole; joinedSeq: number}>
}

/** Outcome of a group command that went through the conversation's seq stream. */
export interface GroupCommandResult {
  conversation: string
  /** Seq of the system message that records the change; absent when nothing changed. */
  seq?: number
  /** Members actually added or removed (already-present / absent ones are skipped). */
  members?: string[]
  /** group.invite.create: the new code. */
  code?: string
  /** group.join via an approval link: a request was filed instead of joining. */
  requested?: boolean
}

export interface InboxEntry {
  conversation: string
  kind: 'direct' | 'group'
  name?: string | null
  /** 'member', or why the caller no longer is one (it then ends at lastSeq). */
  status: 'member' | 'removed' | 'left' | 'banned' | 'deleted'
  muted: boolean
  archived: boolean
  lastSeq: number
  lastTs: string | null
  readSeq: number
  deliveredSeq: number
  unread: number
  memberCount: number
  /** Direct conversations only (groups: group.info). */
  members?: string[]
}

/** One device's public keys as keys.bundle serves them (docs/e2e.md); `preKey` is consumed by the fetch. */
export interface KeyBundle {
  device: string
  registrationId: number
  identityKey: string
  signedPreKey: {id: number; publicKey: string; signature: string}
  kyberPreKey: {id: number; publicKey: string; signature: string}
  /** Absent when the device has run out of one-time prekeys (the session then starts without one). */
  preKey?: {id: number; publicKey: string}
}

/** A device's stock of one-time prekeys; `low` when it is under `threshold` (upload more). */
export interface PreKeyCount {
  preKeys: number
  low: boolean
  threshold: number
}

export type ResultOf<O extends OpName> = O extends 'ping'
  ? Record<string, never>
  : O extends 'conv.direct'
    ? {conversation: string; kind: 'direct'; members: string[]}
    : O extends 'send'
      ? SendResult
      : O extends 'sync'
        ? {messages: MessageView[]; hasMore: boolean}
        : O extends 'search'
          ? SearchResult
          : O extends 'inbox'
          ? {conversations: InboxEntry[]; token: string}
          : O extends 'receipt'
            ? {seq: number}
            : O extends 'conv.settings'
              ? {muted: boolean; archived: boolean}
              : O extends 'group.info'
                ? GroupInfo
                : O extends 'group.requests'
                  ? {requests: Array<{user: string; at: string}>}
                  : O extends `group.${string}`
                    ? GroupCommandResult
                    : O extends 'react' | 'edit' | 'delete'
                      ? {seq?: number}
                      : O extends 'versions'
                        ? {versions: Array<{version: number; body: unknown; ts: string}>}
                        : O extends 'forward'
                        ? SendResult
                        : O extends 'presence.set'
                          ? {status: PresenceStatus; custom?: string}
                          : O extends 'presence.get'
                            ? {presence: PresenceView[]}
                            : O extends 'device.list'
                              ? {devices: DeviceListEntry[]}
                              : O extends 'notify.prefs'
                                ? {device: string; prefs: NotifyPrefsView}
                                : O extends 'push.history'
                                  ? {device: string; history: PushHistoryView[]}
                                  : O extends 'device.rename' | 'device.logout' | 'push.register' | 'push.unregister'
                                    ? Record<string, never>
                            : O extends 'user.blocks'
                              ? {users: string[]}
                              : O extends 'typing' | 'user.block' | 'user.unblock'
                                ? Record<string, never>
                                : O extends 'keys.upload' | 'keys.count'
                                  ? PreKeyCount
                                  : O extends 'keys.devices'
                                    ? {user: string; devices: Array<{device: string; registrationId: number; identityKey: string}>}
                                    : O extends 'keys.bundle'
                                      ? {user: string; devices: KeyBundle[]}
                                      : never

export interface NotifyPrefsView {
  enabled: boolean
  previews: boolean
  quietHours: {start: string; end: string; utcOffsetMin: number} | null
}

export interface DeviceListEntry {
  device: string
  name: string
  platform: string
  createdAt: string
  lastSeenAt: string | null
  push: 'webpush' | 'fcm' | 'apns' | 'log' | null
  prefs: NotifyPrefsView
  current: boolean
}

export interface PushHistoryView {
  id: string
  status: 'sent' | 'retrying' | 'dead_lettered' | 'token_removed' | 'dropped'
  provider: string | null
  title: string | null
  body: string | null
  count: number
  conversations: string[]
  attempt: number
  detail: string | null
  providerId: string | null
  at: string
}

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

export type PresenceStatus = 'online' | 'away' | 'busy' | 'offline'

export interface PresenceView {
  user: string
  status: PresenceStatus
  custom?: string
  /** ISO time the user was last connected (null: never seen, or online now). */
  lastSeen: string | null
}

export interface TypingEvent {
  ev: 'typing'
  conversation: string
  user: string
  state: boolean
  /** Receivers drop a `true` after this long unless it is refreshed. */
  expiresInMs: number
}

export type PresenceEvent = {ev: 'presence'} & PresenceView

/** Messages deleted "for me" on one device, told to the user's other devices. */
export interface HiddenEvent {
  ev: 'hidden'
  conversation: string
  seqs: number[]
}

/** Someone asked to join through an approval link (sent to the group's admins and owner). */
export interface GroupRequestEvent {
  ev: 'group.request'
  conversation: string
  user: string
}

/** A device's one-time prekeys ran under the threshold (sent to its user's devices; `device` says which). */
export interface KeysLowEvent {
  ev: 'keys.low'
  device: string
  preKeys: number
  threshold: number
}

export type ServerEvent =
  | KeysLowEvent
  | MessageEvent
  | ReceiptEvent
  | ReconnectEvent
  | ErrorEvent
  | HelloEvent
  | GroupRequestEvent
  | TypingEvent
  | PresenceEvent
  | HiddenEvent

export type Reply = {re: string; ok: true; [key: string]: unknown} | {re: string; ok: false; error: WireError}
