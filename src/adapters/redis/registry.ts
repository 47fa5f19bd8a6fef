import type {Redis} from 'ioredis'

import {systemClock, type Clock, type ConnectionRegistry, type Route} from '../../core/ports.js'
import {closeRedis, openRedis} from './client.js'

export interface RedisRegistryOptions {
  url: string
  /** Key prefix, e.g. 'msgr'. */
  namespace: string
  /** How long a route lives without a refresh; gateways refresh every ttlMs / 3. */
  ttlMs?: number
  clock?: Clock
  /** Background failures: connection errors and the lazy clean-up of expired routes. */
  onError?: (error: unknown) => void
}

/**
 * Per user one hash `${namespace}:route:{userId}`: field = connId, value = `nodeId|deviceId|expiresAtMs`.
 * Each field carries its own expiry (Redis 7.0 has no per-field TTL); the key's TTL only reclaims
 * users whose every gateway is gone.
 */
export function createRedisRegistry(options: RedisRegistryOptions): ConnectionRegistry {
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS
  const clock = options.clock ?? systemClock
  const onError = options.onError ?? (() => {})
  // A brace in the prefix would become the cluster hash tag and put every user in one slot.
  if (/[{}]/.test(options.namespace)) throw new Error(`registry namespace must not contain braces: ${options.namespace}`)
  const client = openRedis(options.url, {onError})
  const key = (userId: string) => `${options.namespace}:route:{${userId}}`

  return {
    kind: 'redis',

    async add(route) {
      assertNodeId(route.nodeId)
      const k = key(route.userId)
      const value = encode(route.nodeId, route.deviceId, clock.now() + ttlMs)
      // MULTI so a dropped connection can never leave the key without its TTL.
      replies(await client.multi().hset(k, route.connId, value).pexpire(k, ttlMs).exec())
    },

    async remove(route) {
      await client.hdel(key(route.userId), route.connId)
    },

    async lookup(userIds) {
      const byNode = new Map<string, Route[]>()
      const users = [...new Set(userIds)]
      if (users.length === 0) return byNode
      const read = client.pipeline()
      for (const userId of users) read.hgetall(key(userId))
      const hashes = replies(await read.exec()) as Record<string, string>[]
      const now = clock.now()
      const cleanup = client.pipeline()
      let stale = 0
      users.forEach((userId, i) => {
        const expired: string[] = []
        for (const [connId, value] of Object.entries(hashes[i] ?? {})) {
          const entry = decode(value)
          if (!entry) continue
          if (entry.expiresAt <= now) {
            expired.push(connId, value)
            continue
          }
          const routes = byNode.get(entry.nodeId) ?? []
          routes.push({userId, deviceId: entry.deviceId, connId, nodeId: entry.nodeId})
          byNode.set(entry.nodeId, routes)
        }
        if (expired.length > 0) {
          cleanup.eval(DELETE_IF_UNCHANGED, 1, key(userId), ...expired)
          stale++
        }
      })
      if (stale > 0) {
        cleanup.exec().then(replies, onError).catch(onError)
      }
      return byNode
    },

    async refresh(nodeId, routes) {
      assertNodeId(nodeId)
      if (routes.length === 0) return
      const expiresAt = clock.now() + ttlMs
      const byUser = new Map<string, Record<string, string>>()
      for (const route of routes) {
        const fields = byUser.get(route.userId) ?? {}
        fields[route.connId] = encode(nodeId, route.deviceId, expiresAt)
        byUser.set(route.userId, fields)
      }
      // All batches are queued synchronously: a remove() issued after this call reaches Redis
      // after every HSET here (one connection keeps order), so it cannot be undone by a later batch.
      const batches: ReturnType<ReturnType<Redis['pipeline']>['exec']>[] = []
      let pipeline = client.pipeline()
      let commands = 0
      for (const [userId, fields] of byUser) {
        const k = key(userId)
        pipeline.hset(k, fields).pexpire(k, ttlMs)
        commands += 2
        if (commands >= BATCH_COMMANDS) {
          batches.push(pipeline.exec())
          pipeline = client.pipeline()
          commands = 0
        }
      }
      if (commands > 0) batches.push(pipeline.exec())
      for (const results of await Promise.all(batches)) replies(results)
    },

    healthy: () => client.status === 'ready',

    close: () => closeRedis(client),
  }
}

const DEFAULT_TTL_MS = 90_000
const BATCH_COMMANDS = 1_000

// Deletes fields only if they still hold the expired value seen by lookup, so a refresh that
// lands in between is not thrown away. ARGV = field, value, field, value, ...
const DELETE_IF_UNCHANGED = `
local deleted = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    deleted = deleted + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return deleted`

function encode(nodeId: string, deviceId: string, expiresAt: number): string {
  return `${nodeId}|${deviceId}|${expiresAt}`
}

// nodeId is up to the first '|', expiresAt after the last, so device ids may contain '|'.
function decode(value: string): {nodeId: string; deviceId: string; expiresAt: number} | undefined {
  const first = value.indexOf('|')
  const last = value.lastIndexOf('|')
  if (first < 0 || first === last) return undefined
  const expiresAt = Number(value.slice(last + 1))
  if (!Number.isFinite(expiresAt)) return undefined
  return {nodeId: value.slice(0, first), deviceId: value.slice(first + 1, last), expiresAt}
}

function assertNodeId(nodeId: string): void {
  if (nodeId.includes('|')) throw new Error(`registry node id must not contain '|': ${nodeId}`)
}

function replies(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('redis transaction aborted')
  return results.map(([error, reply]) => {
    if (error) throw error
    return reply
  })
}
