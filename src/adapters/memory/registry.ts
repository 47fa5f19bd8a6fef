import {systemClock, type Clock, type ConnectionRegistry, type Route} from '../../core/ports.js'

export interface MemoryRegistryOptions {
  /** How long a route lives without a refresh; same meaning as in the Redis registry. */
  ttlMs?: number
  clock?: Clock
}

/** The in-process registry for single-node deployments; same expiry semantics as the Redis one. */
export function createMemoryRegistry(options: MemoryRegistryOptions = {}): ConnectionRegistry {
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS
  const clock = options.clock ?? systemClock
  const users = new Map<string, Map<string, Entry>>()
  let closed = false
  let nextSweepAt = clock.now() + ttlMs

  const put = (route: Route, expiresAt: number) => {
    const conns = users.get(route.userId) ?? new Map<string, Entry>()
    conns.set(route.connId, {route, expiresAt})
    users.set(route.userId, conns)
  }

  // Plays the part of Redis key expiry: users nobody looks up must not pile up forever.
  const sweepIfDue = (now: number) => {
    if (now < nextSweepAt) return
    nextSweepAt = now + ttlMs
    for (const [userId, conns] of users) {
      for (const [connId, entry] of conns) if (entry.expiresAt <= now) conns.delete(connId)
      if (conns.size === 0) users.delete(userId)
    }
  }

  return {
    kind: 'memory',

    async add(route) {
      const now = clock.now()
      sweepIfDue(now)
      put({...route}, now + ttlMs)
    },

    async remove(route) {
      const conns = users.get(route.userId)
      if (!conns) return
      conns.delete(route.connId)
      if (conns.size === 0) users.delete(route.userId)
    },

    async lookup(userIds) {
      const now = clock.now()
      sweepIfDue(now)
      const byNode = new Map<string, Route[]>()
      for (const userId of new Set(userIds)) {
        const conns = users.get(userId)
        if (!conns) continue
        for (const [connId, {route, expiresAt}] of conns) {
          if (expiresAt <= now) {
            conns.delete(connId)
            continue
          }
          const routes = byNode.get(route.nodeId) ?? []
          routes.push({...route})
          byNode.set(route.nodeId, routes)
        }
        if (conns.size === 0) users.delete(userId)
      }
      return byNode
    },

    async refresh(nodeId, routes) {
      const now = clock.now()
      sweepIfDue(now)
      for (const route of routes) put({...route, nodeId}, now + ttlMs)
    },

    healthy: () => !closed,

    async close() {
      closed = true
      users.clear()
    },
  }
}

const DEFAULT_TTL_MS = 90_000

interface Entry {
  route: Route
  expiresAt: number
}
