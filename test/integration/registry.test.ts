import {randomBytes} from 'node:crypto'

import {Redis} from 'ioredis'
import {afterAll, describe, expect, it} from 'vitest'

import {createMemoryRegistry} from '../../src/adapters/memory/registry.js'
import {createRedisRegistry} from '../../src/adapters/redis/registry.js'
import type {Clock, ConnectionRegistry, Route} from '../../src/core/ports.js'
import {findServices, haveServices, testNamespace} from '../helpers/services.js'

const redisUrl = (await haveServices('redis')) ? (await findServices()).redis : undefined
const namespace = testNamespace()

interface Leg {
  name: 'memory' | 'redis'
  enabled: boolean
  create(options: {ttlMs?: number; clock?: Clock}): ConnectionRegistry
  cleanup(): Promise<void>
}

const legs: Leg[] = [
  {name: 'memory', enabled: true, create: (options) => createMemoryRegistry(options), cleanup: async () => {}},
  {
    name: 'redis',
    enabled: redisUrl !== undefined,
    create: (options) => createRedisRegistry({url: redisUrl!, namespace, ...options}),
    cleanup: () => deleteNamespace(redisUrl!, namespace),
  },
]

describe.each(legs)('ConnectionRegistry contract: $name', (leg) => {
  describe.runIf(leg.enabled)(leg.name, () => {
    const opened: ConnectionRegistry[] = []
    const open = (options: {ttlMs?: number; clock?: Clock} = {}) => {
      const registry = leg.create(options)
      opened.push(registry)
      return registry
    }

    afterAll(async () => {
      await Promise.all(opened.map((registry) => registry.close()))
      await leg.cleanup()
    })

    it('reports its kind and becomes healthy', async () => {
      const registry = open()
      expect(registry.kind).toBe(leg.name)
      await registry.lookup([uid()])
      expect(registry.healthy()).toBe(true)
    })

    it('groups routes by gateway node across users and devices', async () => {
      const registry = open()
      const [alice, bob, carol] = [uid(), uid(), uid()]
      const routes = [
        route(alice, 'phone', 'gw-a'),
        route(alice, 'laptop', 'gw-b'),
        route(bob, 'phone', 'gw-a'),
        route(bob, 'tablet', 'gw-a'),
        route(carol, 'phone', 'gw-b'),
      ]
      await Promise.all(routes.map((r) => registry.add(r)))

      const found = await registry.lookup([alice, bob, carol])
      expect(sortedGroups(found)).toEqual(sortedGroups(group(routes)))

      const onlyBob = await registry.lookup([bob])
      expect(sortedGroups(onlyBob)).toEqual({'gw-a': sort([routes[2]!, routes[3]!])})
    })

    it('returns each route once when a user is asked for twice', async () => {
      const registry = open()
      const r = route(uid(), 'phone', 'gw-a')
      await registry.add(r)
      const found = await registry.lookup([r.userId, r.userId])
      expect(sortedGroups(found)).toEqual({'gw-a': [r]})
    })

    it('returns an empty map for no users and leaves out users without routes', async () => {
      const registry = open()
      expect((await registry.lookup([])).size).toBe(0)
      expect((await registry.lookup([uid(), uid()])).size).toBe(0)

      const r = route(uid(), 'phone', 'gw-a')
      await registry.add(r)
      const found = await registry.lookup([uid(), r.userId, uid()])
      expect(sortedGroups(found)).toEqual({'gw-a': [r]})
    })

    it('removes a route and drops the user once the last one is gone', async () => {
      const registry = open()
      const user = uid()
      const phone = route(user, 'phone', 'gw-a')
      const laptop = route(user, 'laptop', 'gw-b')
      await registry.add(phone)
      await registry.add(laptop)

      await registry.remove(phone)
      expect(sortedGroups(await registry.lookup([user]))).toEqual({'gw-b': [laptop]})

      await registry.remove(laptop)
      expect((await registry.lookup([user])).size).toBe(0)
      await registry.remove(laptop) // removing twice is harmless
    })

    it('hides routes older than the ttl', async () => {
      const clock = fakeClock()
      const registry = open({ttlMs: TTL, clock})
      const r = route(uid(), 'phone', 'gw-a')
      await registry.add(r)

      clock.advance(TTL - 1)
      expect(sortedGroups(await registry.lookup([r.userId]))).toEqual({'gw-a': [r]})
      clock.advance(1)
      expect((await registry.lookup([r.userId])).size).toBe(0)
    })

    it('keeps refreshed routes alive while a silent gateway’s routes expire', async () => {
      const clock = fakeClock()
      const registry = open({ttlMs: TTL, clock})
      const user = uid()
      const live = route(user, 'phone', 'gw-live')
      const crashed = route(user, 'laptop', 'gw-crashed')
      await registry.add(live)
      await registry.add(crashed)

      for (let i = 0; i < 4; i++) {
        clock.advance(TTL / 3)
        await registry.refresh('gw-live', [live])
      }
      clock.advance(TTL / 3)
      expect(sortedGroups(await registry.lookup([user]))).toEqual({'gw-live': [live]})

      clock.advance(TTL)
      expect((await registry.lookup([user])).size).toBe(0)
    })

    it('drops expired routes on lookup instead of only hiding them', async () => {
      const clock = fakeClock()
      const registry = open({ttlMs: TTL, clock})
      const r = route(uid(), 'phone', 'gw-a')
      await registry.add(r)

      clock.advance(TTL + 1)
      expect((await registry.lookup([r.userId])).size).toBe(0)
      // Turning the clock back would revive the route if it were still stored.
      clock.advance(-TTL)
      await expect.poll(async () => (await registry.lookup([r.userId])).size).toBe(0)
    })

    it('looks up 5,000 users with routes at once', async () => {
      const registry = open()
      const users = Array.from({length: 5_000}, () => uid())
      const routes = users.map((user, i) => route(user, 'phone', `gw-${i % 3}`))
      // refresh writes in batches, so this also covers a refresh spanning many pipelines.
      await registry.refresh('gw-0', routes.filter((r) => r.nodeId === 'gw-0'))
      await registry.refresh('gw-1', routes.filter((r) => r.nodeId === 'gw-1'))
      await registry.refresh('gw-2', routes.filter((r) => r.nodeId === 'gw-2'))

      const found = await registry.lookup([...users, uid()])
      expect([...found.keys()].sort()).toEqual(['gw-0', 'gw-1', 'gw-2'])
      expect(sortedGroups(found)).toEqual(sortedGroups(group(routes)))
    })
  })
})

describe('redis registry without a reachable server', () => {
  it('fails commands fast instead of hanging, and closes', async () => {
    const errors: unknown[] = []
    const registry = createRedisRegistry({url: 'redis://127.0.0.1:1', namespace, onError: (e) => errors.push(e)})
    await expect(registry.add(route(uid(), 'phone', 'gw-a'))).rejects.toThrow()
    expect(registry.healthy()).toBe(false)
    expect(errors.length).toBeGreaterThan(0)
    await registry.close()
  }, 10_000)
})

const TTL = 60_000

function fakeClock(): Clock & {advance(ms: number): void} {
  let now = 1_700_000_000_000
  return {now: () => now, advance: (ms) => void (now += ms)}
}

function uid(): string {
  return `u${randomBytes(6).toString('hex')}`
}

function route(userId: string, deviceId: string, nodeId: string): Route {
  return {userId, deviceId, nodeId, connId: `c${randomBytes(6).toString('hex')}`}
}

function group(routes: Route[]): Map<string, Route[]> {
  const byNode = new Map<string, Route[]>()
  for (const r of routes) {
    const list = byNode.get(r.nodeId) ?? []
    list.push(r)
    byNode.set(r.nodeId, list)
  }
  return byNode
}

function sort(routes: Route[]): Route[] {
  return [...routes].sort((a, b) => a.connId.localeCompare(b.connId))
}

function sortedGroups(byNode: Map<string, Route[]>): Record<string, Route[]> {
  return Object.fromEntries([...byNode].map(([node, routes]) => [node, sort(routes)]))
}

async function deleteNamespace(url: string, ns: string): Promise<void> {
  const redis = new Redis(url)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1_000)
      if (keys.length > 0) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    await redis.quit()
  }
}
