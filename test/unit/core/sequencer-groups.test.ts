import {describe, expect, it} from 'vitest'

import {type IngestEnvelope, sendKey} from '../../../src/core/envelope.js'
import type {GroupCommand} from '../../../src/core/group-rules.js'
import {type BatchPlan, type ConversationState, planBatch, type PlanInput} from '../../../src/core/sequencer.js'
import type {MessageRow} from '../../../src/core/store/conversations.js'
import type {GroupRole} from '../../../src/protocol/frames.js'

// planBatch with group commands: commands and sends of one conversation are applied strictly in stream
// order, each judged against the state the previous one left; commands that change the stream get a seq
// (their system message), the others get none, and seqs stay gapless.

const NOW = new Date('2030-01-02T03:04:05.678Z')
const EARLIER = new Date('2029-12-31T23:59:59.000Z')

const G = 'conv-group'
const NEW = 'conv-new'
const OWNER = 'owner'
const ADMIN = 'admin'
const MEMBER = 'member'
const OUTSIDER = 'outsider'
const LINK = 'open-link-0001'

describe('planBatch with group commands', () => {
  it('a send right after a removal in the same batch, from the removed member -> forbidden', () => {
    const plan = planBatch(
      input({
        envelopes: [
          send(G, MEMBER, 'before'),
          command(G, ADMIN, 'rm', {type: 'remove', members: [MEMBER]}),
          send(G, MEMBER, 'after'),
          send(G, OWNER, 'owner-after'),
        ],
        states: [group(10)],
      }),
    )
    expect(verdicts(plan)).toEqual([11, 12, 'forbidden', 13])
    expect(plan.inserts.map((r) => [r.seq, r.client_msg_id, r.kind])).toEqual([
      [11, 'before', 'text'],
      [12, 'rm', 'system'],
      [13, 'owner-after', 'text'],
    ])
    // The removed member receives its own removal, and nothing after it.
    expect(recipientsBySeq(plan)).toEqual({
      11: [OWNER, ADMIN, MEMBER],
      12: [OWNER, ADMIN, MEMBER],
      13: [OWNER, ADMIN],
    })
    expect(plan.effects).toEqual([{conversation: G, seq: 12, effect: {t: 'member.delete', user: MEMBER, reason: 'removed'}}])
    expect(plan.advances).toEqual([{conversation: G, from: 10, to: 13, ts: NOW}])
    expect([...plan.states.get(G)!.members.keys()]).toEqual([OWNER, ADMIN])
    expect(plan.states.get(G)!.lastSeq).toBe(13)
  })

  it('a system message row: kind system, the body of the rules, sent by the actor from its device', () => {
    const plan = planBatch(input({envelopes: [command(G, ADMIN, 'c-1', {type: 'update', name: 'New name'})], states: [group(4)]}))
    expect(plan.inserts).toHaveLength(1)
    expect(plan.inserts[0]).toMatchObject({
      conversation_id: G,
      seq: 5,
      id: 'id-1',
      sender_id: ADMIN,
      sender_device: `${ADMIN}-device`,
      client_msg_id: 'c-1',
      kind: 'system',
      body: {action: 'group.updated', actor: ADMIN, name: 'New name'},
      reply_to: null,
      created_at: NOW,
    })
    expect(plan.outcomes).toEqual([
      {key: sendKey(G, ADMIN, 'c-1'), ok: true, seq: 5, messageId: 'id-1', ts: NOW.toISOString(), duplicate: false, result: {}},
    ])
    expect(plan.messages.map((m) => m.fresh)).toEqual([true])
  })

  it('seqs stay gapless across commands that produce no system message', () => {
    const plan = planBatch(
      input({
        envelopes: [
          send(G, MEMBER, 'm1'),
          command(G, ADMIN, 'inv', {type: 'invite.create', code: LINK, approval: false}),
          command(G, OWNER, 'ban', {type: 'ban', member: OUTSIDER}),
          command(G, OWNER, 'noop', {type: 'add', members: [MEMBER]}),
          command(G, MEMBER, 'refused', {type: 'delete'}),
          send(G, MEMBER, 'm2'),
          command(G, OWNER, 'unban', {type: 'unban', member: OUTSIDER}),
          command(G, OUTSIDER, 'join', {type: 'join', code: LINK}),
          send(G, OUTSIDER, 'm3'),
        ],
        states: [group(20)],
      }),
    )
    expect(verdicts(plan)).toEqual([21, null, null, null, 'forbidden', 22, null, 23, 24])
    expect(plan.inserts.map((r) => r.seq)).toEqual([21, 22, 23, 24])
    expect(plan.messages.map((m) => m.row.seq)).toEqual([21, 22, 23, 24])
    expect(plan.advances).toEqual([{conversation: G, from: 20, to: 24, ts: NOW}])
    // Commands without a system message: outcome with seq null and the rules' result; effects with seq null.
    expect(plan.outcomes[1]).toEqual({key: sendKey(G, ADMIN, 'inv'), ok: true, seq: null, messageId: null, ts: null, duplicate: false, result: {code: LINK}})
    expect(plan.outcomes[3]).toMatchObject({ok: true, seq: null, result: {members: []}})
    expect(plan.effects).toEqual([
      {conversation: G, seq: null, effect: {t: 'invite.add', code: LINK, approval: false, by: ADMIN}},
      {conversation: G, seq: null, effect: {t: 'ban.add', user: OUTSIDER, by: OWNER}},
      {conversation: G, seq: null, effect: {t: 'ban.remove', user: OUTSIDER}},
      {conversation: G, seq: 23, effect: {t: 'member.upsert', user: OUTSIDER, role: 'member', addedBy: OUTSIDER}},
    ])
    expect(plan.states.get(G)!.lastSeq).toBe(24)
  })

  it('a batch of only stream-less commands writes effects but advances and inserts nothing', () => {
    const plan = planBatch(
      input({envelopes: [command(G, ADMIN, 'inv', {type: 'invite.create', code: LINK, approval: true}), command(G, OUTSIDER, 'ask', {type: 'join', code: LINK})], states: [group(7)]}),
    )
    expect(verdicts(plan)).toEqual([null, null])
    expect(plan.inserts).toEqual([])
    expect(plan.advances).toEqual([])
    expect(plan.messages).toEqual([])
    expect(plan.effects.map((e) => e.effect.t)).toEqual(['invite.add', 'request.add'])
    expect(plan.outcomes[1]).toMatchObject({ok: true, seq: null, result: {requested: true}})
    expect(plan.notices).toEqual([{users: [OWNER, ADMIN], event: {ev: 'group.request', conversation: G, user: OUTSIDER}}])
    expect(plan.states.get(G)!.group!.requests.has(OUTSIDER)).toBe(true)
    expect(plan.states.get(G)!.lastSeq).toBe(7)
  })

  it('create and send in one batch: the group starts at seq 1 and the send follows it', () => {
    const plan = planBatch(
      input({
        envelopes: [
          send(NEW, OWNER, 'too-early'),
          command(NEW, OWNER, 'create', {type: 'create', name: 'Fresh', members: [MEMBER]}),
          send(NEW, MEMBER, 'hello'),
          send(NEW, OUTSIDER, 'intruder'),
          command(NEW, OUTSIDER, 'again', {type: 'create', name: 'Dup', members: []}),
        ],
        states: [],
      }),
    )
    expect(verdicts(plan)).toEqual(['not_found', 1, 2, 'forbidden', 'conflict'])
    expect(plan.inserts.map((r) => [r.seq, r.kind, r.body])).toEqual([
      [1, 'system', {action: 'group.created', actor: OWNER, name: 'Fresh', members: [OWNER, MEMBER]}],
      [2, 'text', 'hello'],
    ])
    expect(plan.outcomes[1]).toMatchObject({ok: true, seq: 1, result: {members: [OWNER, MEMBER]}})
    expect(plan.advances).toEqual([{conversation: NEW, from: 0, to: 2, ts: NOW}])
    expect(plan.effects).toEqual([
      {conversation: NEW, seq: 1, effect: {t: 'conversation.create', name: 'Fresh', description: null, picture: null, createdBy: OWNER}},
      {conversation: NEW, seq: 1, effect: {t: 'member.upsert', user: OWNER, role: 'owner', addedBy: OWNER}},
      {conversation: NEW, seq: 1, effect: {t: 'member.upsert', user: MEMBER, role: 'member', addedBy: OWNER}},
    ])
    expect(recipientsBySeq(plan)).toEqual({1: [OWNER, MEMBER], 2: [OWNER, MEMBER]})
    const state = plan.states.get(NEW)!
    expect(state).toMatchObject({id: NEW, kind: 'group', lastSeq: 2})
    expect([...state.members]).toEqual([
      [OWNER, 'owner'],
      [MEMBER, 'member'],
    ])
  })

  it('an added member receives the system message of its addition and later messages', () => {
    const plan = planBatch(
      input({
        envelopes: [command(G, OWNER, 'add', {type: 'add', members: [OUTSIDER]}), send(G, OUTSIDER, 'hi'), send(G, MEMBER, 'welcome')],
        states: [group(0)],
      }),
    )
    expect(verdicts(plan)).toEqual([1, 2, 3])
    expect(recipientsBySeq(plan)).toEqual({
      1: [OWNER, ADMIN, MEMBER, OUTSIDER],
      2: [OWNER, ADMIN, MEMBER, OUTSIDER],
      3: [OWNER, ADMIN, MEMBER, OUTSIDER],
    })
  })

  it('after a delete in the batch, sends and commands -> not_found', () => {
    const plan = planBatch(
      input({
        envelopes: [command(G, OWNER, 'del', {type: 'delete'}), send(G, MEMBER, 'late'), command(G, ADMIN, 'late-cmd', {type: 'leave'})],
        states: [group(3)],
      }),
    )
    expect(verdicts(plan)).toEqual([4, 'not_found', 'not_found'])
    expect(recipientsBySeq(plan)).toEqual({4: [OWNER, ADMIN, MEMBER]})
    expect(plan.effects.map((e) => [e.seq, e.effect.t])).toEqual([
      [4, 'conversation.delete'],
      [4, 'member.delete'],
      [4, 'member.delete'],
      [4, 'member.delete'],
    ])
  })

  it('an owner that left in the batch can no longer administer in it', () => {
    const plan = planBatch(
      input({
        envelopes: [command(G, OWNER, 'bye', {type: 'leave'}), command(G, OWNER, 'kick', {type: 'remove', members: [MEMBER]}), command(G, ADMIN, 'kick2', {type: 'remove', members: [MEMBER]})],
        states: [group(0)],
      }),
    )
    expect(verdicts(plan)).toEqual([1, 'forbidden', 2])
    expect(plan.inserts[0]!.body).toEqual({action: 'member.left', actor: OWNER, newOwner: ADMIN})
  })

  it('a repeat of a stored command is answered from the stored row and not applied again', () => {
    const stored = row(G, 6, 'stored-id', ADMIN, 'rm', {action: 'members.removed', actor: ADMIN, members: [MEMBER]})
    // Whether the state already reflects the removal (usual) or not (it would be applicable again), the
    // stored row wins: no effects, no insert, no seq.
    for (const members of [[OWNER, ADMIN], [OWNER, ADMIN, MEMBER]]) {
      const plan = planBatch(
        input({
          envelopes: [command(G, ADMIN, 'rm', {type: 'remove', members: [MEMBER]}), send(G, OWNER, 'next')],
          states: [group(8, members)],
          existing: [stored],
        }),
      )
      expect(plan.outcomes[0]).toEqual({key: sendKey(G, ADMIN, 'rm'), ok: true, seq: 6, messageId: 'stored-id', ts: EARLIER.toISOString(), duplicate: true})
      expect(plan.outcomes[1]).toMatchObject({ok: true, seq: 9, duplicate: false})
      expect(plan.effects).toEqual([])
      expect(plan.inserts.map((r) => r.client_msg_id)).toEqual(['next'])
      expect(plan.advances).toEqual([{conversation: G, from: 8, to: 9, ts: NOW}])
      expect(plan.messages.map((m) => [m.row.seq, m.fresh])).toEqual([
        [6, false],
        [9, true],
      ])
      expect([...plan.states.get(G)!.members.keys()]).toEqual(members)
    }
  })

  it('the same command twice in one batch is applied once; the copy gets the first one’s seq', () => {
    const plan = planBatch(
      input({
        envelopes: [command(G, OWNER, 'promo', {type: 'promote', member: MEMBER}), command(G, OWNER, 'promo', {type: 'promote', member: MEMBER})],
        states: [group(2)],
      }),
    )
    expect(plan.outcomes.map((o) => (o.ok ? [o.seq, o.duplicate] : o.error.code))).toEqual([
      [3, false],
      [3, true],
    ])
    expect(plan.inserts).toHaveLength(1)
    expect(plan.effects).toHaveLength(1)
    expect(plan.messages).toHaveLength(1)
  })

  // Regression: a plain `send` of kind 'system' would let any member forge a system message (e.g. a fake
  // promotion). The edge refuses server kinds and the 'cmd:' clientMsgId prefix; the planner refuses them too.
  it('a plain send of kind system is refused: only group commands write system messages', () => {
    const forged = {...send(G, MEMBER, 'cmd:forged'), kind: 'system', body: {action: 'member.promoted', actor: OWNER, member: MEMBER}}
    const plan = planBatch(input({envelopes: [forged, send(G, MEMBER, 'next')], states: [group(5)]}))
    expect(verdicts(plan)).toEqual(['invalid_request', 6])
    expect(plan.inserts.map((r) => r.kind)).toEqual(['text'])
  })

  it('commands of different conversations interleave without touching each other’s seqs', () => {
    const other = {...group(50), id: 'conv-other'}
    const plan = planBatch(
      input({
        envelopes: [
          command(G, OWNER, 'a', {type: 'update', name: 'A'}),
          command('conv-other', OWNER, 'b', {type: 'remove', members: [MEMBER]}),
          send(G, MEMBER, 'c'),
          send('conv-other', MEMBER, 'd'),
        ],
        states: [group(1), other],
      }),
    )
    expect(verdicts(plan)).toEqual([2, 51, 3, 'forbidden'])
    expect(plan.advances).toEqual(
      expect.arrayContaining([
        {conversation: G, from: 1, to: 3, ts: NOW},
        {conversation: 'conv-other', from: 50, to: 51, ts: NOW},
      ]),
    )
    expect(plan.advances).toHaveLength(2)
  })
})

// ---- helpers ----

interface InputSpec {
  envelopes: IngestEnvelope[]
  states: ConversationState[]
  existing?: MessageRow[]
}

function input(spec: InputSpec): PlanInput {
  let n = 0
  return {
    envelopes: spec.envelopes,
    states: new Map(spec.states.map((s) => [s.id, s])),
    existing: new Map((spec.existing ?? []).map((r) => [sendKey(r.conversation_id, r.sender_id, r.client_msg_id), r])),
    now: NOW,
    newId: () => `id-${++n}`,
  }
}

/** Owner, admin, member (oldest first); no bans; the open link LINK is not live until invite.create. */
function group(lastSeq: number, members: string[] = [OWNER, ADMIN, MEMBER]): ConversationState {
  const role = (u: string): GroupRole => (u === OWNER ? 'owner' : u === ADMIN ? 'admin' : 'member')
  return {
    id: G,
    kind: 'group',
    lastSeq,
    members: new Map(members.map((u) => [u, role(u)])),
    group: {name: 'G', description: null, picture: null, bans: new Set(), invites: new Map(), requests: new Set(), deleted: false},
  }
}

function send(conv: string, sender: string, clientMsgId: string): IngestEnvelope {
  return {v: 1, conv, sender, senderDevice: `${sender}-device`, clientMsgId, kind: 'text', body: 'hello', gw: 'gw-1', at: 0}
}

function command(conv: string, sender: string, clientMsgId: string, cmd: GroupCommand): IngestEnvelope {
  return {v: 1, conv, sender, senderDevice: `${sender}-device`, clientMsgId, kind: 'system', body: null, cmd, gw: 'gw-1', at: 0}
}

function row(conversation: string, seq: number, id: string, sender: string, clientMsgId: string, body: unknown): MessageRow {
  return {
    conversation_id: conversation,
    seq,
    id,
    sender_id: sender,
    sender_device: `${sender}-device`,
    client_msg_id: clientMsgId,
    kind: 'system',
    body,
    reply_to: null,
    created_at: EARLIER,
  }
}

/** Per envelope: its seq, null for an accepted command without a system message, or the error code. */
function verdicts(plan: BatchPlan): Array<number | null | string> {
  return plan.outcomes.map((o) => (o.ok ? o.seq : o.error.code))
}

function recipientsBySeq(plan: BatchPlan): Record<number, string[]> {
  return Object.fromEntries(plan.messages.map((m) => [m.row.seq, [...m.recipients]]))
}
