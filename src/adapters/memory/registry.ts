import {systemClock, type Clock, type ConnectionRegistry, type Route} from '../../core/ports.js'

export interface MemoryRegistryOptions {
  /** How long a route lives without a refresh; same meaning as in the Redis registry. */
  ttlMs?: number
  clock?: Clock
}

/**
 * The in-process registry for single-node deployments; same expiry semantics as the Redis one. Every
 * connection of `serve all` has an entry, so entries are kept small: per user one flat slot (an array
 * only for a user with several connections), the user id being the key.
 */
export function createMemoryRegistry(options: MemoryRegistryOptions = {}): ConnectionRegistry {
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS
  const clock = options.clock ?? systemClock
  const users = new Map<string, Slot | Slot[]>()
  let closed = false
  let nextSweepAt = clock.now() + ttlMs

  const slotsOf = (userId: string): readonly Slot[] => {
    const held = users.get(userId)
    return held === undefined ? [] : Array.isArray(held) ? held : [held]
  }
  const store = (userId: string, slots: Slot[]) => {
    if (slots.length === 0) users.delete(userId)
    else users.set(userId, slots.length === 1 ? slots[0]! : slots)
  }
  const put = (route: Route, nodeId: string, expiresAt: number) => {
    const slots = slotsOf(route.userId)
    const known = slots.find((s) => s.connId === route.connId)
    if (known) {
      known.nodeId = nodeId
      known.deviceId = route.deviceId
      known.expiresAt = expiresAt
      return
    }
    store(route.userId, [...slots, {connId: route.connId, deviceId: route.deviceId, nodeId, expiresAt}])
  }
  const live = (userId: string, now: number): readonly Slot[] => {
    const slots = slotsOf(userId)
    if (slots.every((s) => s.expiresAt > now)) return slots
    const kept = slots.filter((s) => s.expiresAt > now)
    store(userId, kept)
    return kept
  }

  // Plays the part of Redis key expiry: users nobody looks up must not pile up forever.
  const sweepIfDue = (now: number) => {
    if (now < nextSweepAt) return
    nextSweepAt = now + ttlMs
    for (const userId of [...users.keys()]) live(userId, now)
  }

  return {
    kind: 'memory',

    async add(route) {
      const now = clock.now()
      sweepIfDue(now)
      put(route, route.nodeId, now + ttlMs)
    },

    async remove(route) {
      const slots = slotsOf(route.userId)
      if (slots.some((s) => s.connId === route.connId)) store(route.userId, slots.filter((s) => s.connId !== route.connId))
    },

    async lookup(userIds) {
      const now = clock.now()
      sweepIfDue(now)
      const byNode = new Map<string, Route[]>()
      for (const userId of new Set(userIds)) {
        for (const slot of live(userId, now)) {
          const routes = byNode.get(slot.nodeId) ?? []
          routes.push({userId, deviceId: slot.deviceId, connId: slot.connId, nodeId: slot.nodeId})
          byNode.set(slot.nodeId, routes)
        }
      }
      return byNode
    },

    async refresh(nodeId, routes) {
      const now = clock.now()
      sweepIfDue(now)
      for (const route of routes) put(route, nodeId, now + ttlMs)
    },

    healthy: () => !closed,

    async close() {
      closed = true
      users.clear()
    },
  }
}

const DEFAULT_TTL_MS = 90_000

/** One connection of a user (the user id is the map key). */
interface Slot {
  connId: string
  deviceId: string
  nodeId: string
  expiresAt: number
}
