import type {PresenceRecord, PresenceStore} from '../../core/ports.js'
import {closeRedis, openRedis} from './client.js'

// Presence in Redis: one small hash per user (hash-tagged for Redis Cluster), read in one pipeline.

const TTL_MS = 30 * 24 * 3600 * 1000

export function createRedisPresenceStore(options: {url: string; namespace: string; onError?: (e: unknown) => void}): PresenceStore {
  const redis = openRedis(options.url, {onError: options.onError})
  const key = (user: string) => `${options.namespace}:presence:{${user}}`
  return {
    kind: 'redis',
    async get(users) {
      const out = new Map<string, PresenceRecord>()
      if (users.length === 0) return out
      const pipeline = redis.pipeline()
      for (const user of users) pipeline.hgetall(key(user))
      const results = (await pipeline.exec()) ?? []
      users.forEach((user, i) => {
        const [error, hash] = results[i] ?? []
        const h = hash as Record<string, string> | undefined
        if (error || !h || !h.status) return
        const record: PresenceRecord = {status: h.status as PresenceRecord['status'], lastSeen: h.lastSeen ? Number(h.lastSeen) : null}
        if (h.custom) record.custom = h.custom
        out.set(user, record)
      })
      return out
    },
    async set(user, patch) {
      const fields: Record<string, string> = {}
      if (patch.status) fields.status = patch.status
      if (patch.custom !== undefined) fields.custom = patch.custom
      if (patch.lastSeen !== undefined && patch.lastSeen !== null) fields.lastSeen = String(patch.lastSeen)
      const tx = redis.multi()
      if (!patch.status) tx.hsetnx(key(user), 'status', 'online')
      if (Object.keys(fields).length > 0) tx.hset(key(user), fields)
      if ('custom' in patch && patch.custom === undefined) tx.hdel(key(user), 'custom')
      tx.pexpire(key(user), TTL_MS)
      await tx.exec()
    },
    close: () => closeRedis(redis),
  }
}
