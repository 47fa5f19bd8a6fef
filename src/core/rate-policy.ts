import {createHash} from 'node:crypto'

import {z} from 'zod'

import {MsgrError} from '../errors.js'
import type {OpName} from '../protocol/frames.js'
import type {RateRule, Route} from './ports.js'

// Which budget each request spends, with named defaults that config may override (docs/protocol.md,
// "Rate limits"). Pure: no I/O, no clock; the gateway applies it through the RateLimiter and
// DistinctLimiter ports (user budgets, shared by every gateway) and in memory (per-connection budgets).

export const RATE_LIMIT_DEFAULTS = {
  /** Every frame of one connection, whatever it is. */
  frames: {ratePerSec: 50, burst: 100},
  /** Per user, across gateways: ops that append to a conversation's stream (see OP_RULES). */
  send: {ratePerSec: 20, burst: 40},
  /** Per user, across gateways: group commands and blocks. */
  groupAdmin: {ratePerSec: 5, burst: 20},
  /** Open connections per user: every one on this gateway plus each other device connected elsewhere. */
  maxConnectionsPerUser: 10,
  /** New connections (upgrades) per user, across gateways: a reconnect loop is slowed, a fleet's devices after a crash are not. */
  connects: {ratePerSec: 1, burst: 20},
  /** The same kind+body from one user to more than `maxConversations` conversations within `windowMs` is refused. */
  duplicateContent: {maxConversations: 5, windowMs: 60_000, minBodyBytes: 16},
} as const

/** What a refused upgrade tells the client to wait: nothing frees a slot on a timer, so this is a backoff hint. */
export const CONNECTION_RETRY_AFTER_MS = 10_000

export type UserRule = 'send' | 'groupAdmin'

/** `details.reason` of a rate_limited error, and the `scope` label of msgr_rate_limited_total. */
export type RateLimitReason = 'frames' | 'send' | 'group_admin' | 'duplicate_content' | 'max_connections' | 'connects'

/** The user budget each op spends (null: only the connection's frame budget). A new op must be placed here. */
export const OP_RULES = {
  ping: null,
  'conv.direct': null,
  send: 'send',
  sync: null,
  search: null,
  inbox: null,
  receipt: null,
  'conv.settings': null,
  'group.create': 'groupAdmin',
  'group.info': null,
  'group.update': 'groupAdmin',
  'group.add': 'groupAdmin',
  'group.remove': 'groupAdmin',
  'group.leave': 'groupAdmin',
  'group.delete': 'groupAdmin',
  'group.promote': 'groupAdmin',
  'group.demote': 'groupAdmin',
  'group.ban': 'groupAdmin',
  'group.unban': 'groupAdmin',
  'group.invite.create': 'groupAdmin',
  'group.invite.revoke': 'groupAdmin',
  'group.join': 'groupAdmin',
  'group.requests': null,
  'group.approve': 'groupAdmin',
  'group.deny': 'groupAdmin',
  react: 'send',
  edit: 'send',
  versions: null,
  delete: 'send',
  forward: 'send',
  typing: null,
  'presence.set': null,
  'presence.get': null,
  'user.block': 'groupAdmin',
  'user.unblock': 'groupAdmin',
  'user.blocks': null,
  // Device and push settings: writes are metered like group changes, reads are free.
  'device.list': null,
  'device.rename': 'groupAdmin',
  'device.logout': 'groupAdmin',
  'push.register': 'groupAdmin',
  'push.unregister': 'groupAdmin',
  'notify.prefs': 'groupAdmin',
  'push.history': null,
  // keys.bundle takes a one-time prekey from every device it returns: metered like a send.
  'keys.upload': 'groupAdmin',
  'keys.count': null,
  'keys.devices': null,
  'keys.bundle': 'send',
} as const satisfies Record<OpName, UserRule | null>

const rule = (defaults: RateRule) =>
  z
    .object({
      ratePerSec: z.number().positive().max(1_000_000).default(defaults.ratePerSec),
      burst: z.number().int().min(1).max(1_000_000_000).default(defaults.burst),
    })
    .prefault({})

const d = RATE_LIMIT_DEFAULTS

/** The `rateLimits` section of the node config; any field may be left out. */
export const rateLimitsSchema = z
  .object({
    /** `--rate-limits off` turns every rule below off. */
    enabled: z.boolean().default(true),
    frames: rule(d.frames),
    send: rule(d.send),
    groupAdmin: rule(d.groupAdmin),
    maxConnectionsPerUser: z.number().int().min(1).default(d.maxConnectionsPerUser),
    connects: rule(d.connects),
    duplicateContent: z
      .object({
        maxConversations: z.number().int().min(1).default(d.duplicateContent.maxConversations),
        windowMs: z.number().int().min(1000).default(d.duplicateContent.windowMs),
        /** Shorter bodies ("ok", "thanks") are never treated as duplicates. */
        minBodyBytes: z.number().int().min(0).default(d.duplicateContent.minBodyBytes),
      })
      .prefault({}),
  })
  .prefault({})

export type RateLimitsConfig = z.output<typeof rateLimitsSchema>

export function userRuleFor(op: OpName): UserRule | null {
  return OP_RULES[op]
}

export function reasonOf(rule: UserRule): RateLimitReason {
  return rule === 'send' ? 'send' : 'group_admin'
}

/** The key of a user's bucket of new connections, the same on every gateway. */
export function connectBucketKey(userId: string): string {
  return `connects:${userId}`
}

/** The key of a user's bucket for one rule, the same on every gateway. */
export function userBucketKey(rule: UserRule, userId: string): string {
  return `${rule}:${userId}`
}

/**
 * The key that groups a user's sends of the same content (kind + body), or undefined when the body is
 * too short to count. Object bodies are compared as serialised, so key order matters.
 */
export function duplicateContentKey(userId: string, kind: string, body: unknown, minBodyBytes: number): string | undefined {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  if (Buffer.byteLength(text) < minBodyBytes) return undefined
  // 128 bits of SHA-256: collisions between different contents are not a practical concern.
  const hash = createHash('sha256').update(kind).update('\n').update(text).digest('base64url').slice(0, 22)
  return `dup:${userId}:${hash}`
}

/**
 * Connections a user holds, for maxConnectionsPerUser: every connection on this gateway (exact), plus
 * each *other* device routed elsewhere. Routes elsewhere of the connecting device, or of a device that
 * is also here, do not count: a gateway that died leaves its routes until their TTL, and its devices
 * must be able to reconnect meanwhile.
 */
export function connectionsInUse(localDevices: readonly string[], elsewhere: readonly Route[], connectingDevice: string): number {
  const here = new Set(localDevices)
  const others = new Set<string>()
  for (const route of elsewhere) if (route.deviceId !== connectingDevice && !here.has(route.deviceId)) others.add(route.deviceId)
  return localDevices.length + others.size
}

/** The one shape of every rate_limited error the gateway sends: details.reason and details.retryAfterMs. */
export function rateLimitedError(reason: RateLimitReason, retryAfterMs: number, extra: Record<string, unknown> = {}): MsgrError {
  const wait = Math.max(1, Math.ceil(retryAfterMs))
  return new MsgrError('rate_limited', `${MESSAGES[reason]}; retry in ${wait} ms`, {reason, retryAfterMs: wait, ...extra})
}

const MESSAGES: Record<RateLimitReason, string> = {
  frames: 'too many frames on this connection',
  send: 'too many messages',
  group_admin: 'too many group changes',
  duplicate_content: 'the same message went to too many conversations',
  max_connections: 'too many open connections for this user',
  connects: 'too many new connections for this user',
}
