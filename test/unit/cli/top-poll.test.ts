import {describe, expect, it} from 'vitest'

import {topView} from '../../../src/cli/top/model.js'
import {snapshot, type TopClient} from '../../../src/cli/top/poll.js'
import type {StatusResponse} from '../../../src/control-plane/admin-api.js'
import type {NodeRecord} from '../../../src/control-plane/node-registry.js'

const status: StatusResponse = {
  nodes: {total: 1, alive: 1, byRole: {worker: 1}, byState: {active: 1, draining: 0, stopped: 0}},
  partitions: {total: 4, owned: 4, unowned: 0, expired: 0},
  gateways: {active: 0, connections: 0},
  ready: false,
  problems: ['no active gateway'],
  warnings: [],
}

/** A control plane whose single worker heartbeats every 2 s of a fake clock, storing 50 messages a second. */
function fakeCluster(options: {alive?: boolean} = {}) {
  let now = 0
  let polls = 0
  const record = (): NodeRecord => {
    const beat = Math.floor(now / 2000) * 2000
    return {
      id: 'wk0',
      role: 'worker',
      address: null,
      version: '0.1.0',
      state: 'active',
      startedAt: '2026-01-01T00:00:00.000Z',
      heartbeatAt: new Date(Date.parse('2026-01-01T00:00:00.000Z') + beat).toISOString(),
      ageMs: now - beat,
      alive: options.alive ?? true,
      stats: {cpu: {user: beat * 100, system: 0}, stored: beat / 20, partitions: 4},
      drain: null,
    }
  }
  const client: TopClient = {
    status: async () => status,
    nodes: async () => {
      polls++
      return {nodes: [record()]}
    },
  }
  return {client, now: () => now, sleep: async (ms: number) => void (now += ms), polls: () => polls}
}

describe('msgr top snapshot', () => {
  it('polls until every live node has its rates', async () => {
    const fake = fakeCluster()
    const view = topView(await snapshot(fake.client, {intervalMs: 1000, now: fake.now, sleep: fake.sleep}))
    expect(fake.polls()).toBe(3)
    expect(view.nodes[0]!.cpuPercent).toBeCloseTo(10)
    expect(view.totals.storedPerSec).toBeCloseTo(50)
    expect(view.cluster.problems).toEqual(['no active gateway'])
  })

  it('answers at once when no node is alive, and gives up waiting after maxWaitMs', async () => {
    const dead = fakeCluster({alive: false})
    await snapshot(dead.client, {intervalMs: 1000, now: dead.now, sleep: dead.sleep})
    expect(dead.polls()).toBe(1)

    const slow = fakeCluster()
    const view = topView(await snapshot(slow.client, {intervalMs: 1000, maxWaitMs: 1500, now: slow.now, sleep: slow.sleep}))
    expect(slow.polls()).toBe(2)
    expect(view.nodes[0]!.cpuPercent).toBeNull()
  })
})
