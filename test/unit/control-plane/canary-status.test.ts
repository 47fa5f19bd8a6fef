import {describe, expect, it} from 'vitest'

import {type CanaryOutcome, type CanaryReport, consecutiveFailures, publishedByLeader, readSummary, recordOutcome, summarize, withCanary} from '../../../src/control-plane/canary-status.js'
import type {ClusterStatus} from '../../../src/control-plane/cluster-status.js'
import type {NodeRecord} from '../../../src/control-plane/node-registry.js'

const ok = (at: string): CanaryOutcome => ({ok: true, at, ackMs: 4.2, deliveryMs: 6.1, sender: 'gw0', receiver: 'gw1'})
const failed = (at: string): CanaryOutcome => ({ok: false, at, stage: 'send', error: 'send: no answer within 5000 ms'})

const status: ClusterStatus = {
  nodes: {total: 2, alive: 2, byRole: {gateway: 1, worker: 1}, byState: {active: 2, draining: 0, stopped: 0}},
  partitions: {total: 4, owned: 4, unowned: 0, expired: 0},
  gateways: {active: 1, connections: 0},
  ready: true,
  problems: [],
  warnings: [],
}

function report(overrides: Partial<CanaryReport> = {}): CanaryReport {
  return {enabled: true, leader: true, leaderNode: 'cp0', failing: false, consecutiveFailures: 0, last: ok('t1'), history: [ok('t1')], ...overrides}
}

function node(id: string, stats: Record<string, unknown>, alive = true): NodeRecord {
  return {id, role: 'control-plane', address: null, version: '0.1.0', state: 'active', startedAt: '', heartbeatAt: '', ageMs: 0, alive, stats, drain: null}
}

describe('canary history', () => {
  it('keeps the newest first, at most N', () => {
    let history: CanaryOutcome[] = []
    for (const at of ['t1', 't2', 't3', 't4']) history = recordOutcome(history, ok(at), 3)
    expect(history.map((o) => o.at)).toEqual(['t4', 't3', 't2'])
  })

  it('counts failures in a row since the last success and fails at the threshold', () => {
    expect(consecutiveFailures([])).toBe(0)
    expect(consecutiveFailures([failed('t3'), failed('t2'), ok('t1'), failed('t0')])).toBe(2)
    expect(consecutiveFailures([failed('t1'), failed('t0')])).toBe(2)
    expect(summarize([failed('t2'), ok('t1')], 2)).toEqual({last: failed('t2'), failing: false, consecutiveFailures: 1})
    expect(summarize([failed('t3'), failed('t2'), ok('t1')], 2)).toMatchObject({failing: true, consecutiveFailures: 2})
    expect(summarize([ok('t4'), failed('t3'), failed('t2')], 2)).toMatchObject({failing: false, consecutiveFailures: 0})
    expect(summarize([], 2)).toEqual({last: null, failing: false, consecutiveFailures: 0})
  })
})

describe('published canary summary', () => {
  it('reads the live leader other than itself, defensively', () => {
    const summary = {last: ok('t1'), failing: false, consecutiveFailures: 0}
    const nodes = [node('cp0', {leader: false}), node('cp1', {leader: true, canary: summary}), node('cp2', {leader: true}, false)]
    expect(publishedByLeader(nodes, 'cp0')).toEqual({node: 'cp1', summary})
    expect(publishedByLeader(nodes, 'cp1')).toBeUndefined()
    expect(publishedByLeader([node('cp1', {leader: true, canary: 'garbage'})], 'cp0')).toEqual({node: 'cp1', summary: undefined})
    expect(readSummary({failing: true, consecutiveFailures: 3, last: 'x'})).toEqual({last: null, failing: true, consecutiveFailures: 3})
    expect(readSummary(null)).toBeUndefined()
  })
})

describe('status with the canary', () => {
  it('leaves the status alone without a canary and shows a disabled one', () => {
    expect(withCanary(status, undefined)).toBe(status)
    const off = withCanary(status, report({enabled: false, last: null, history: []}))
    expect(off).toMatchObject({ready: true, problems: [], warnings: [], canary: {enabled: false}})
    expect(off.canary).not.toHaveProperty('history')
  })

  it('turns the cluster not ready while the canary is failing, and says why', () => {
    const failing = withCanary(status, report({failing: true, consecutiveFailures: 2, last: failed('t2'), history: [failed('t2'), failed('t1')]}))
    expect(failing.ready).toBe(false)
    expect(failing.problems).toEqual(['canary failing: 2 probes in a row (last: send: send: no answer within 5000 ms)'])
    expect(failing.canary).toMatchObject({failing: true, leaderNode: 'cp0'})
    expect(status.problems).toEqual([]) // not mutated
  })

  it('warns when no control plane leads', () => {
    expect(withCanary(status, report({leader: false, leaderNode: null, last: null, history: []}))).toMatchObject({ready: true, warnings: ['no control-plane leader: the canary is not running']})
  })
})
