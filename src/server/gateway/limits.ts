import type {Duplex} from 'node:stream'

import type {Logger} from '../../core/logger.js'
import type {Clock, ConnectionRegistry, DistinctLimiter, RateLimiter} from '../../core/ports.js'
import {
  CONNECTION_RETRY_AFTER_MS,
  connectBucketKey,
  connectionsInUse,
  duplicateContentKey,
  type RateLimitReason,
  type RateLimitsConfig,
  rateLimitedError,
  reasonOf,
  userBucketKey,
  userRuleFor,
} from '../../core/rate-policy.js'
import {type BucketState, takeTokens} from '../../core/token-bucket.js'
import {CLOSE} from '../../errors.js'
import type {OpName} from '../../protocol/frames.js'
import type {Metrics} from '../metrics.js'
import type {Connection, Identity} from './connection.js'

// Applies src/core/rate-policy.ts at the gateway: per-connection frame budgets in memory, per-user
// budgets and the duplicate-content rule through the shared limiters, max connections at the upgrade.
// When a shared limiter is down, requests go through (fail open) and a warning is logged.

export interface GatewayLimits {
  /** Spends one frame token; when there is none, answers rate_limited (counted as a bad frame) and returns true. */
  refuseFrame(conn: Connection, re: string | undefined): boolean
  /** Spends one of the user's new-connection tokens, then holds one of its connection slots until `socket` closes; rejects with rate_limited (connects, max_connections). */
  admit(identity: Identity, socket: Duplex): Promise<void>
  /** The user's budget for `op` (send, group admin); rejects with rate_limited. */
  beforeOp(who: Identity, op: OpName): Promise<void>
  /** The duplicate-content rule, just before a message is published; rejects with rate_limited. */
  beforeSend(who: Identity, conversation: string, kind: string, body: unknown): Promise<void>
}

export interface GatewayLimitsDeps {
  nodeId: string
  limiter: RateLimiter
  distinct: DistinctLimiter
  registry: ConnectionRegistry
  metrics: Metrics
  logger: Logger
  clock: Clock
}

export const NO_LIMITS: GatewayLimits = {
  refuseFrame: () => false,
  admit: async () => {},
  beforeOp: async () => {},
  beforeSend: async () => {},
}

export function createGatewayLimits(config: RateLimitsConfig, deps: GatewayLimitsDeps): GatewayLimits {
  if (!config.enabled) return NO_LIMITS
  const {metrics, clock} = deps
  const frameBuckets = new WeakMap<Connection, BucketState>()
  // userId -> device ids of this gateway's connections, including upgrades still being admitted.
  const slots = new Map<string, string[]>()
  const warned = new Map<string, number>()

  const refused = (reason: RateLimitReason, retryAfterMs: number, extra?: Record<string, unknown>) => {
    metrics.rateLimited.inc({scope: reason})
    return rateLimitedError(reason, retryAfterMs, extra)
  }

  // At most one warning per component per 30 s while a shared limiter is failing.
  const failOpen = (component: string, error?: unknown) => {
    const now = clock.now()
    if ((warned.get(component) ?? -Infinity) > now - 30_000) return
    warned.set(component, now)
    deps.logger.warn({err: error, component}, `${component} unavailable: its rate limits are not enforced until it is back`)
  }

  const release = (userId: string, deviceId: string) => {
    const devices = slots.get(userId)
    if (!devices) return
    const i = devices.indexOf(deviceId)
    if (i >= 0) devices.splice(i, 1)
    if (devices.length === 0) slots.delete(userId)
  }

  // The user's budget of new connections (shared through the rate limiter, like the send budget).
  async function takeConnect(userId: string): Promise<void> {
    if (!deps.limiter.healthy()) return failOpen('rate limiter')
    let decision
    try {
      decision = await deps.limiter.take(connectBucketKey(userId), config.connects)
    } catch (error) {
      return failOpen('rate limiter', error)
    }
    if (!decision.ok) throw refused('connects', decision.retryAfterMs)
  }

  async function routedElsewhere(userId: string) {
    if (!deps.registry.healthy()) return []
    try {
      const byNode = await deps.registry.lookup([userId])
      return [...byNode].filter(([nodeId]) => nodeId !== deps.nodeId).flatMap(([, routes]) => routes)
    } catch (error) {
      failOpen('registry', error)
      return []
    }
  }

  return {
    refuseFrame(conn, re) {
      const now = clock.now()
      const {decision, state} = takeTokens(frameBuckets.get(conn), config.frames, 1, now)
      frameBuckets.set(conn, state)
      if (decision.ok) return false
      const error = refused('frames', decision.retryAfterMs)
      metrics.frameErrors.inc({code: error.code})
      conn.replyError(re, error.toWire())
      // A client that keeps flooding after being told to wait is closed like any other abuser.
      if (conn.recordBadFrame(now)) conn.ws.close(CLOSE.policy, 'too many invalid frames')
      return true
    },

    async admit(identity, socket) {
      await takeConnect(identity.userId)
      const max = config.maxConnectionsPerUser
      const devices = slots.get(identity.userId) ?? []
      if (devices.length >= max) throw refused('max_connections', CONNECTION_RETRY_AFTER_MS, {limit: max})
      // Reserved before the registry round trip, so concurrent upgrades on this gateway see each other.
      const local = [...devices]
      devices.push(identity.deviceId)
      slots.set(identity.userId, devices)
      const elsewhere = await routedElsewhere(identity.userId)
      if (connectionsInUse(local, elsewhere, identity.deviceId) >= max) {
        release(identity.userId, identity.deviceId)
        throw refused('max_connections', CONNECTION_RETRY_AFTER_MS, {limit: max})
      }
      if (socket.destroyed) return release(identity.userId, identity.deviceId)
      socket.once('close', () => release(identity.userId, identity.deviceId))
    },

    async beforeOp(who, op) {
      const rule = userRuleFor(op)
      if (!rule) return
      if (!deps.limiter.healthy()) return failOpen('rate limiter')
      let decision
      try {
        decision = await deps.limiter.take(userBucketKey(rule, who.userId), config[rule])
      } catch (error) {
        return failOpen('rate limiter', error)
      }
      if (!decision.ok) throw refused(reasonOf(rule), decision.retryAfterMs)
    },

    async beforeSend(who, conversation, kind, body) {
      const {maxConversations, windowMs, minBodyBytes} = config.duplicateContent
      const key = duplicateContentKey(who.userId, kind, body, minBodyBytes)
      if (!key) return
      if (!deps.distinct.healthy()) return failOpen('duplicate-content limiter')
      let decision
      try {
        decision = await deps.distinct.admit(key, conversation, {limit: maxConversations, windowMs})
      } catch (error) {
        return failOpen('duplicate-content limiter', error)
      }
      if (!decision.ok) throw refused('duplicate_content', decision.retryAfterMs, {limit: maxConversations})
    },
  }
}
