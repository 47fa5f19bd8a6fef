import {describe, expect, it} from 'vitest'

import {clusterStatus, type LeaseRow, partitionViews, planDrain} from '../../../src/control-plane/cluster-status.js'
import type {DrainRequest, NodeRecord} from '../../../src/control-plane/node-registry.js'

const NOW = Date.parse('2026-01-01T00:00:10.000Z')
const LATER = '2026-01-01T00:00:20.000Z'
const EARLIER = '2026-01-01T00:00:05.000Z'

function node(id: string, role: string, overrides: Partial<NodeRecord> = {}, stats: Record<string, unknown> = {}): NodeRecord {
  return {
    id,
    role,
    address: `${id}:8080`,
    version: '0.1.0',
    state: 'active',
    startedAt: '2026-01-01T00:00:00.000Z',
    heartbeatAt: '2026-01-01T00:00:09.000Z',
    ageMs: 1000,
    alive: true,
    stats,
    drain: null,
    ...overrides,
  }
}

function leases(owners: Array<string | null>, expiresAt = LATER): LeaseRow[] {
  return owners.map((owner, partition) => ({partition, owner, epoch: 1, expiresAt}))
}

const drain: DrainRequest = {requestedAt: '2026-01-01T00:00:10.000Z', deadlineAt: '2026-01-01T00:01:10.000Z', force: false, reason: 'drain'}

describe('partitionViews', () => {
  it('owned by a live node within its lease; expired when the owner is dead or the lease lapsed; unowned when released', () => {
    const nodes = [node('wk0', 'worker'), node('wk1', 'worker', {alive: false, ageMs: 30_000})]
    const rows: LeaseRow[] = [
      {partition: 0, owner: 'wk0', epoch: 1, expiresAt: LATER},
      {partition: 1, owner: 'wk0', epoch: 1, expiresAt: EARLIER},
      {partition: 2, owner: 'wk1', epoch: 2, expiresAt: LATER},
      {partition: 3, owner: null, epoch: 3, expiresAt: '1970-01-01T00:00:00.000Z'},
      {partition: 4, owner: 'gone', epoch: 1, expiresAt: LATER},
    ]
    expect(partitionViews(rows, nodes, NOW).map((p) => p.status)).toEqual(['owned', 'expired', 'expired', 'unowned', 'expired'])
  })
})

describe('clusterStatus', () => {
  it('a healthy single node is ready with nothing to report', () => {
    const all = node('all0', 'gateway,worker,control-plane', {}, {connections: 7})
    const status = clusterStatus([all], leases(['all0', 'all0', 'all0', 'all0']), 4, NOW)
    expect(status).toEqual({
      nodes: {total: 1, alive: 1, byRole: {gateway: 1, worker: 1, 'control-plane': 1}, byState: {active: 1, draining: 0, stopped: 0}},
      partitions: {total: 4, owned: 4, unowned: 0, expired: 0},
      gateways: {active: 1, connections: 7},
      ready: true,
      problems: [],
      warnings: [],
    })
  })

  it('names every problem: no live worker, partitions without a live owner, no active gateway', () => {
    const nodes = [
      node('cp0', 'control-plane'),
      node('gw0', 'gateway', {state: 'draining'}, {connections: 3}),
      node('wk0', 'worker', {alive: false, ageMs: 12_000}),
    ]
    const status = clusterStatus(nodes, leases(['wk0', 'wk0', null]), 4, NOW)
    expect(status.ready).toBe(false)
    expect(status.problems).toEqual(['no live worker', '4 partitions without a live owner', 'no active gateway'])
    expect(status.partitions).toEqual({total: 4, owned: 0, unowned: 2, expired: 2}) // a missing lease row is unowned
    expect(status.gateways).toEqual({active: 0, connections: 3}) // a draining gateway still holds its clients
    expect(status.warnings).toEqual(['node gw0 is draining', 'node wk0 missed its heartbeats (last 12s ago)'])
  })

  it('one partition: singular; a draining worker does not count as live; stopped nodes are not warned about', () => {
    const nodes = [node('gw0', 'gateway'), node('wk0', 'worker', {state: 'draining'}, {drained: true}), node('wk1', 'worker', {state: 'stopped', alive: false})]
    const status = clusterStatus(nodes, leases([null]), 1, NOW)
    expect(status.problems).toEqual(['no live worker', '1 partition without a live owner'])
    expect(status.warnings).toEqual(['node wk0 is drained'])
  })
})

describe('planDrain', () => {
  const nodes = [
    node('gw0', 'gateway', {}, {connections: 12}),
    node('gw1', 'gateway'),
    node('gw2', 'gateway', {state: 'draining'}),
    node('wk0', 'worker'),
    node('wk1', 'worker'),
    node('wk2', 'worker', {alive: false}),
  ]

  it('a gateway: its clients and where they may go', () => {
    const plan = planDrain(nodes[0]!, nodes, leases(['wk0', 'wk1']), drain)
    expect(plan).toMatchObject({node: 'gw0', roles: ['gateway'], connections: 12, gatewayTargets: ['gw1'], partitions: [], warnings: []})
  })

  it('a worker: every partition it holds moves to a live, active worker', () => {
    const plan = planDrain(nodes[3]!, nodes, leases(['wk0', 'wk1', 'wk0', 'wk0']), drain)
    expect(plan.connections).toBe(0)
    expect(plan.partitions).toEqual([
      {partition: 0, to: 'wk1'},
      {partition: 2, to: 'wk1'},
      {partition: 3, to: 'wk1'},
    ])
    expect(plan.warnings).toEqual([])
  })

  it('warns when there is nowhere to go', () => {
    const solo = node('all0', 'gateway,worker,control-plane', {state: 'draining'}, {connections: 2})
    const plan = planDrain(solo, [solo], leases(['all0', 'all0']), drain)
    expect(plan.partitions).toEqual([
      {partition: 0, to: null},
      {partition: 1, to: null},
    ])
    expect(plan.warnings).toEqual([
      'no other active gateway: 2 clients will have nowhere to reconnect',
      'no other live worker: 2 partitions will stay unowned until a worker joins or the drain is cancelled',
      'node all0 is already draining; the new deadline replaces the old one',
    ])
  })
})
