import {describe, expect, it} from 'vitest'

import {advance, nodeRates, ratesKnown, type TopSample, topView} from '../../../src/cli/top/model.js'
import {sparkline} from '../../../src/cli/top/sparkline.js'
import type {StatusResponse} from '../../../src/control-plane/admin-api.js'
import type {NodeRecord} from '../../../src/control-plane/node-registry.js'

const T0 = Date.parse('2026-01-01T00:00:00.000Z')

function node(id: string, role: string, at: number, stats: Record<string, unknown>, extra: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id,
    role,
    address: `${id}:8080`,
    version: '0.1.0',
    state: 'active',
    startedAt: new Date(T0 - 60_000).toISOString(),
    heartbeatAt: new Date(at).toISOString(),
    ageMs: 100,
    alive: true,
    stats,
    drain: null,
    ...extra,
  }
}

const status: StatusResponse = {
  nodes: {total: 2, alive: 2, byRole: {gateway: 1, worker: 1}, byState: {active: 2, draining: 0, stopped: 0}},
  partitions: {total: 8, owned: 8, unowned: 0, expired: 0},
  gateways: {active: 1, connections: 5},
  ready: true,
  problems: [],
  warnings: [],
}

const sample = (at: number, nodes: NodeRecord[]): TopSample => ({at, status, nodes})
const cpu = (seconds: number) => ({user: seconds * 0.75 * 1e6, system: seconds * 0.25 * 1e6})

describe('msgr top model', () => {
  it('derives CPU % from the cpu micros between two heartbeats, over the time between them', () => {
    const a = node('wk0', 'worker', T0, {cpu: cpu(10), stored: 100})
    const b = node('wk0', 'worker', T0 + 2000, {cpu: cpu(10.5), stored: 300})
    const rates = nodeRates(a, b)
    expect(rates.cpuPercent).toBeCloseTo(25)
    expect(rates.storedPerSec).toBeCloseTo(100)
    // Several cores: above 100 %, like top.
    expect(nodeRates(a, node('wk0', 'worker', T0 + 1000, {cpu: cpu(11.5), stored: 100})).cpuPercent).toBeCloseTo(150)
  })

  it('sums msgs/s over live workers and keeps the rate while a poll sees the same heartbeat', () => {
    const s0 = sample(T0, [node('wk0', 'worker', T0, {cpu: cpu(1), stored: 0}), node('wk1', 'worker', T0, {cpu: cpu(1), stored: 1000}), node('gw0', 'gateway', T0, {cpu: cpu(1), connections: 5})])
    let state = advance(undefined, s0)
    expect(topView(state).totals.storedPerSec).toBeNull()
    expect(state.history).toEqual([])
    expect(ratesKnown(state)).toBe(false)

    const s1 = sample(T0 + 1000, [
      node('wk0', 'worker', T0 + 2000, {cpu: cpu(1.2), stored: 100}),
      node('wk1', 'worker', T0 + 2000, {cpu: cpu(1.2), stored: 1300}),
      node('gw0', 'gateway', T0 + 2000, {cpu: cpu(1.1), connections: 7}),
    ])
    state = advance(state, s1)
    let view = topView(state)
    expect(view.totals.storedPerSec).toBeCloseTo(200)
    expect(view.totals.connections).toBe(7)
    expect(view.nodes.map((n) => n.cpuPercent)).toEqual([expect.closeTo(10), expect.closeTo(10), expect.closeTo(5)])
    expect(ratesKnown(state)).toBe(true)

    // Next poll, same heartbeats: the rates carry over instead of dropping to 0.
    state = advance(state, {...s1, at: T0 + 2000})
    view = topView(state)
    expect(view.totals.storedPerSec).toBeCloseTo(200)
    expect(state.history).toEqual([expect.closeTo(200), expect.closeTo(200)])
  })

  it('gives no rate, never a negative one, across a node restart', () => {
    const before = node('wk0', 'worker', T0, {cpu: cpu(30), stored: 5000})
    // Same id, restarted: counters start again from zero and startedAt moves.
    const restarted = node('wk0', 'worker', T0 + 2000, {cpu: cpu(0.4), stored: 10}, {startedAt: new Date(T0 + 1500).toISOString()})
    expect(nodeRates(before, restarted)).toEqual({})
    // A counter that went down is a restart too, even when startedAt was not updated.
    expect(nodeRates(before, node('wk0', 'worker', T0 + 2000, {cpu: cpu(0.4), stored: 10}))).toEqual({})

    let state = advance(undefined, sample(T0, [before]))
    state = advance(state, sample(T0 + 2000, [restarted]))
    const view = topView(state)
    expect(view.nodes[0]!.cpuPercent).toBeNull()
    expect(view.totals.storedPerSec).toBeNull()
    expect(state.history).toEqual([])

    // The heartbeat after the restart has rates again.
    state = advance(state, sample(T0 + 4000, [node('wk0', 'worker', T0 + 4000, {cpu: cpu(0.8), stored: 50}, {startedAt: restarted.startedAt})]))
    expect(topView(state).nodes[0]!.cpuPercent).toBeCloseTo(20)
    expect(state.history).toEqual([expect.closeTo(20)])
  })

  it('shows no rates for dead nodes and counts only live gateways and workers', () => {
    let state = advance(undefined, sample(T0, [node('wk0', 'worker', T0, {cpu: cpu(1), stored: 0}), node('gw0', 'gateway', T0, {connections: 9, cpu: cpu(1)})]))
    state = advance(
      state,
      sample(T0 + 2000, [node('wk0', 'worker', T0 + 2000, {cpu: cpu(2), stored: 40}, {alive: false, ageMs: 9000}), node('gw0', 'gateway', T0, {connections: 9, cpu: cpu(1)}, {alive: false, ageMs: 9000})]),
    )
    const view = topView(state)
    expect(view.nodes.map((n) => [n.cpuPercent, n.uptimeSec, n.rssBytes])).toEqual([
      [null, null, null],
      [null, null, null],
    ])
    expect(view.totals).toMatchObject({connections: 0, storedPerSec: null})
    expect(ratesKnown(state)).toBe(true)
  })

  it('keeps the last 60 samples of msgs/s', () => {
    let state = advance(undefined, sample(T0, [node('wk0', 'worker', T0, {cpu: cpu(0), stored: 0})]))
    for (let i = 1; i <= 70; i++) state = advance(state, sample(T0 + i * 1000, [node('wk0', 'worker', T0 + i * 1000, {cpu: cpu(0), stored: i * i})]))
    expect(state.history).toHaveLength(60)
    expect(state.history.at(-1)).toBeCloseTo(70 * 70 - 69 * 69)
    expect(state.history[0]).toBeCloseTo(11 * 11 - 10 * 10)
  })

  it('draws a sparkline scaled to the peak', () => {
    expect(sparkline([])).toBe('')
    expect(sparkline([0, 0])).toBe('▁▁')
    expect(sparkline([0, 1, 2, 4, 8])).toBe('▁▁▂▄█')
  })
})
