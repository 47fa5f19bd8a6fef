import {describe, expect, it} from 'vitest'

import {chooseGateway} from '../../../src/control-plane/gateway-routing.js'
import type {NodeRecord} from '../../../src/control-plane/node-registry.js'

function node(id: string, overrides: Partial<NodeRecord> = {}, stats: Record<string, unknown> = {}): NodeRecord {
  return {
    id,
    role: 'gateway',
    address: `${id}.internal:8080`,
    version: '0.1.0',
    state: 'active',
    startedAt: '2026-01-01T00:00:00.000Z',
    heartbeatAt: '2026-01-01T00:00:00.000Z',
    ageMs: 100,
    alive: true,
    stats: {connections: 0, ...stats},
    drain: null,
    ...overrides,
  }
}

// Fixed ids: the hash-based choices are the same on every run.
const users = Array.from({length: 400}, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)

describe('chooseGateway', () => {
  it('answers undefined when there is no usable gateway', () => {
    expect(chooseGateway([], users[0]!)).toBeUndefined()
    expect(
      chooseGateway(
        [
          node('draining', {state: 'draining'}),
          node('stopped', {state: 'stopped', alive: false}),
          node('dead', {alive: false}),
          node('worker', {role: 'worker'}),
          node('no-address', {address: null}),
        ],
        users[0]!,
      ),
    ).toBeUndefined()
  })

  it('never picks a draining, dead, stopped, address-less or non-gateway node', () => {
    const nodes = [
      node('draining', {state: 'draining'}),
      node('dead', {alive: false}),
      node('stopped', {state: 'stopped', alive: false}),
      node('worker', {role: 'worker,control-plane'}),
      node('no-address', {address: null}),
      node('ok', {role: 'gateway,worker,control-plane'}, {connections: 5}),
    ]
    for (const user of users) expect(chooseGateway(nodes, user)).toEqual({node: 'ok', address: 'ok.internal:8080', connections: 5, tls: false})
  })

  it('sends everyone to the least loaded gateway when the others are outside the band', () => {
    const nodes = [node('busy', {}, {connections: 90, capacity: 100}), node('idle', {}, {connections: 10, capacity: 100})]
    for (const user of users) expect(chooseGateway(nodes, user)?.node).toBe('idle')
  })

  it('weighs load by capacity, not by raw connections', () => {
    // big: 500 of 10 000 (5%); small: 40 of 100 (40%): the big one takes new clients despite holding more.
    const nodes = [node('big', {}, {connections: 500, capacity: 10_000}), node('small', {}, {connections: 40, capacity: 100})]
    for (const user of users) expect(chooseGateway(nodes, user)?.node).toBe('big')
  })

  it('uses the default capacity when a node does not report one', () => {
    const nodes = [node('a', {}, {connections: 50}), node('b', {}, {connections: 10})]
    expect(chooseGateway(nodes, users[0]!, 100)?.node).toBe('b') // 50% vs 10%: outside the band
    const spread = new Set(users.map((u) => chooseGateway(nodes, u)!.node)) // 100 000 default: both in band
    expect(spread).toEqual(new Set(['a', 'b']))
  })

  it('is sticky per user within the band and spreads users over it', () => {
    const nodes = ['g1', 'g2', 'g3'].map((id, i) => node(id, {}, {connections: i * 3, capacity: 1000}))
    const first = new Map(users.map((u) => [u, chooseGateway(nodes, u)!.node]))
    // Same answer every time, whatever the order nodes are listed in.
    for (const u of users) expect(chooseGateway([...nodes].reverse(), u)!.node).toBe(first.get(u))
    const counts = new Map<string, number>()
    for (const g of first.values()) counts.set(g, (counts.get(g) ?? 0) + 1)
    expect([...counts.keys()].sort()).toEqual(['g1', 'g2', 'g3'])
    for (const n of counts.values()) expect(n).toBeGreaterThan(users.length / 6)
  })

  it('moves only the users a new gateway wins when it joins the band (rendezvous)', () => {
    const before = ['g1', 'g2'].map((id) => node(id, {}, {connections: 0, capacity: 1000}))
    const after = [...before, node('g3', {}, {connections: 0, capacity: 1000})]
    let moved = 0
    for (const u of users) {
      const was = chooseGateway(before, u)!.node
      const now = chooseGateway(after, u)!.node
      if (now !== was) {
        expect(now).toBe('g3')
        moved++
      }
    }
    expect(moved).toBeGreaterThan(0)
    expect(moved).toBeLessThan(users.length / 2)
  })

  it('drops a gateway from the choice as soon as it is draining', () => {
    const nodes = ['g1', 'g2'].map((id) => node(id))
    const onG1 = users.filter((u) => chooseGateway(nodes, u)!.node === 'g1')
    const drained = [node('g1', {state: 'draining'}), node('g2')]
    for (const u of onG1) expect(chooseGateway(drained, u)!.node).toBe('g2')
  })
})
