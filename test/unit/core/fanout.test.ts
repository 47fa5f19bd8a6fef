import {describe, expect, it} from 'vitest'

import type {Delivery, SendOutcome} from '../../../src/core/envelope.js'
import {type FanoutItem, mergeNodeBatches, planFanout} from '../../../src/core/fanout.js'
import type {Route} from '../../../src/core/ports.js'
import type {ServerEvent} from '../../../src/protocol/frames.js'

describe('planFanout', () => {
  it('sends one Delivery per item per node carrying all of that node users', () => {
    const routes = routesByNode([
      route('alice', 'a-phone', 'gw-1'),
      route('alice', 'a-laptop', 'gw-1'),
      route('bob', 'b-phone', 'gw-1'),
      route('carol', 'c-phone', 'gw-2'),
    ])
    const e1 = event(1)
    const e2 = event(2)
    const out = planFanout(
      [
        {recipients: ['alice', 'bob', 'carol'], event: e1},
        {recipients: ['bob', 'carol'], event: e2},
      ],
      routes,
    )
    expect([...out.keys()].sort()).toEqual(['gw-1', 'gw-2'])
    expect(normalise(out.get('gw-1')!)).toEqual([
      {users: ['alice', 'bob'], event: e1},
      {users: ['bob'], event: e2},
    ])
    expect(normalise(out.get('gw-2')!)).toEqual([
      {users: ['carol'], event: e1},
      {users: ['carol'], event: e2},
    ])
    // Several devices of one user on one node do not repeat the user.
    expect(out.get('gw-1')![0]!.users.filter((u) => u === 'alice')).toHaveLength(1)
  })

  it('keeps item order per node', () => {
    const routes = routesByNode([route('alice', 'd', 'gw-1')])
    const items = [1, 2, 3, 4, 5].map((seq) => ({recipients: ['alice'], event: event(seq)}))
    const out = planFanout(items, routes)
    expect(out.get('gw-1')!.map((d) => (d.event as {seq: number}).seq)).toEqual([1, 2, 3, 4, 5])
  })

  it('users with no routes get nothing; a node with none of the recipients gets nothing', () => {
    const routes = routesByNode([route('alice', 'd', 'gw-1'), route('dave', 'd', 'gw-3')])
    const out = planFanout([{recipients: ['alice', 'offline-bob'], event: event(1)}], routes)
    expect([...out.keys()]).toEqual(['gw-1'])
    expect(out.get('gw-1')![0]!.users).toEqual(['alice'])
    expect(planFanout([{recipients: ['offline-bob'], event: event(2)}], routes).size).toBe(0)
    expect(planFanout([{recipients: ['alice'], event: event(3)}], new Map()).size).toBe(0)
    expect(planFanout([], routes).size).toBe(0)
  })

  it('a user connected to two nodes appears in both', () => {
    const routes = routesByNode([route('alice', 'phone', 'gw-1'), route('alice', 'laptop', 'gw-2'), route('bob', 'phone', 'gw-2')])
    const out = planFanout([{recipients: ['alice', 'bob'], event: event(1)}], routes)
    expect(out.get('gw-1')!.map((d) => d.users)).toEqual([['alice']])
    expect(out.get('gw-2')!.map((d) => [...d.users].sort())).toEqual([['alice', 'bob']])
  })

  it('carries skipDevice to every node, and omits it when not given', () => {
    const routes = routesByNode([route('alice', 'phone', 'gw-1'), route('alice', 'laptop', 'gw-2')])
    const items: FanoutItem[] = [
      {recipients: ['alice'], skipDevice: 'phone', event: event(1)},
      {recipients: ['alice'], event: event(2)},
    ]
    const out = planFanout(items, routes)
    for (const node of ['gw-1', 'gw-2']) {
      const [withSkip, without] = out.get(node)!
      expect(withSkip!.skipDevice).toBe('phone')
      expect(without).not.toHaveProperty('skipDevice')
    }
  })
})

describe('mergeNodeBatches', () => {
  it('merges acks and deliveries into one batch per node', () => {
    const ok1: SendOutcome = {key: 'k1', ok: true, seq: 1, messageId: 'm1', ts: 't', duplicate: false}
    const ok2: SendOutcome = {key: 'k2', ok: true, seq: 2, messageId: 'm2', ts: 't', duplicate: true}
    const fail3: SendOutcome = {key: 'k3', ok: false, error: {code: 'forbidden', message: 'no'}}
    const d1: Delivery = {users: ['alice'], event: event(1)}
    const d2: Delivery = {users: ['bob'], skipDevice: 'x', event: event(2)}
    const d3: Delivery = {users: ['carol'], event: event(3)}
    const batches = mergeNodeBatches(
      [
        {...ok1, node: 'gw-1'},
        {...fail3, node: 'gw-2'},
        {...ok2, node: 'gw-1'},
      ],
      new Map([
        ['gw-1', [d1, d2]],
        ['gw-3', [d3]],
      ]),
    )
    expect([...batches.keys()].sort()).toEqual(['gw-1', 'gw-2', 'gw-3'])
    expect(batches.get('gw-1')).toEqual({t: 'batch', acks: [ok1, ok2], deliveries: [d1, d2]})
    expect(batches.get('gw-2')).toEqual({t: 'batch', acks: [fail3]})
    expect(batches.get('gw-3')).toEqual({t: 'batch', deliveries: [d3]})
    // The routing field stays out of the ack on the wire.
    for (const batch of batches.values()) for (const ack of batch.acks ?? []) expect(ack).not.toHaveProperty('node')
  })

  it('nothing in, nothing out', () => {
    expect(mergeNodeBatches([], new Map()).size).toBe(0)
  })

  it('composes with planFanout', () => {
    const routes = routesByNode([route('alice', 'phone', 'gw-1'), route('bob', 'phone', 'gw-2')])
    const deliveries = planFanout([{recipients: ['alice', 'bob'], skipDevice: 'phone', event: event(9)}], routes)
    const ack: SendOutcome = {key: 'k', ok: true, seq: 9, messageId: 'm', ts: 't', duplicate: false}
    const batches = mergeNodeBatches([{...ack, node: 'gw-1'}], deliveries)
    expect(batches.get('gw-1')).toEqual({t: 'batch', acks: [ack], deliveries: [{users: ['alice'], skipDevice: 'phone', event: event(9)}]})
    expect(batches.get('gw-2')).toEqual({t: 'batch', deliveries: [{users: ['bob'], skipDevice: 'phone', event: event(9)}]})
  })
})

function route(userId: string, deviceId: string, nodeId: string): Route {
  return {userId, deviceId, nodeId, connId: `${nodeId}/${deviceId}`}
}

function routesByNode(routes: Route[]): Map<string, Route[]> {
  const out = new Map<string, Route[]>()
  for (const r of routes) out.set(r.nodeId, [...(out.get(r.nodeId) ?? []), r])
  return out
}

function event(seq: number): ServerEvent {
  return {
    ev: 'message',
    conversation: 'conv',
    seq,
    messageId: `m${seq}`,
    sender: 'alice',
    senderDevice: 'phone',
    ts: '2030-01-01T00:00:00.000Z',
    kind: 'text',
    body: `#${seq}`,
    clientMsgId: `c${seq}`,
  }
}

function normalise(deliveries: Delivery[]): Delivery[] {
  return deliveries.map((d) => ({...d, users: [...d.users].sort()}))
}
