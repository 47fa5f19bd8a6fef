import {describe, expect, it} from 'vitest'

import {type IngestEnvelope, sendKey} from '../../../src/core/envelope.js'
import {type ConversationState, planBatch, type PlanInput} from '../../../src/core/sequencer.js'
import type {MessageRow} from '../../../src/core/store/conversations.js'

const NOW = new Date('2030-01-02T03:04:05.678Z')
const EARLIER = new Date('2029-12-31T23:59:59.000Z')

const A = 'conv-a'
const B = 'conv-b'
const ALICE = 'alice'
const BOB = 'bob'
const CAROL = 'carol'

describe('planBatch', () => {
  it('continues seqs from lastSeq per conversation and interleaves conversations', () => {
    const plan = planBatch(
      input({
        envelopes: [env(A, ALICE, 'a1'), env(B, BOB, 'b1'), env(A, BOB, 'a2'), env(B, ALICE, 'b2'), env(A, ALICE, 'a3')],
        states: [state(A, 10, [ALICE, BOB]), state(B, 0, [ALICE, BOB])],
      }),
    )
    expect(plan.outcomes.map((o) => (o.ok ? o.seq : o.error.code))).toEqual([11, 1, 12, 2, 13])
    expect(plan.inserts.map((r) => [r.conversation_id, r.seq, r.client_msg_id])).toEqual([
      [A, 11, 'a1'],
      [B, 1, 'b1'],
      [A, 12, 'a2'],
      [B, 2, 'b2'],
      [A, 13, 'a3'],
    ])
    expect(plan.advances).toEqual(
      expect.arrayContaining([
        {conversation: A, from: 10, to: 13, ts: NOW},
        {conversation: B, from: 0, to: 2, ts: NOW},
      ]),
    )
    expect(plan.advances).toHaveLength(2)
  })

  it('builds rows and outcomes from the envelope, the clock and newId', () => {
    const e = env(A, ALICE, 'm1', {kind: 'image', body: {url: 'u'}, replyTo: 3, senderDevice: 'alice-phone'})
    const plan = planBatch(input({envelopes: [e], states: [state(A, 5, [ALICE, BOB])]}))
    const row = plan.inserts[0]!
    expect(row).toEqual({
      conversation_id: A,
      seq: 6,
      id: 'id-1',
      sender_id: ALICE,
      sender_device: 'alice-phone',
      client_msg_id: 'm1',
      kind: 'image',
      body: {url: 'u'},
      reply_to: 3,
      created_at: NOW,
      meta: null,
    })
    expect(plan.outcomes).toEqual([{key: sendKey(A, ALICE, 'm1'), ok: true, seq: 6, messageId: 'id-1', ts: NOW.toISOString(), duplicate: false}])
    expect(plan.messages).toHaveLength(1)
    expect(plan.messages[0]!.row).toBe(row)
    expect(plan.messages[0]!.fresh).toBe(true)
    expect([...plan.messages[0]!.recipients].sort()).toEqual([ALICE, BOB])
  })

  it('reply_to is null without replyTo', () => {
    const plan = planBatch(input({envelopes: [env(A, ALICE, 'm1')], states: [state(A, 0, [ALICE])]}))
    expect(plan.inserts[0]!.reply_to).toBeNull()
  })

  it('a repeat of a stored message returns its seq and id, stores nothing and is re-fanned out once', () => {
    const stored = row(A, 4, 'stored-id', ALICE, 'dup')
    const plan = planBatch(
      input({
        envelopes: [env(A, ALICE, 'dup'), env(A, ALICE, 'new'), env(A, ALICE, 'dup')],
        states: [state(A, 7, [ALICE, BOB])],
        existing: [stored],
      }),
    )
    const key = sendKey(A, ALICE, 'dup')
    const dupOutcome = {key, ok: true, seq: 4, messageId: 'stored-id', ts: EARLIER.toISOString(), duplicate: true}
    expect(plan.outcomes).toEqual([
      dupOutcome,
      {key: sendKey(A, ALICE, 'new'), ok: true, seq: 8, messageId: 'id-1', ts: NOW.toISOString(), duplicate: false},
      dupOutcome,
    ])
    expect(plan.inserts.map((r) => r.client_msg_id)).toEqual(['new'])
    expect(plan.messages.map((m) => [m.row.client_msg_id, m.row.seq, m.fresh])).toEqual([
      ['dup', 4, false],
      ['new', 8, true],
    ])
    expect(plan.messages[0]!.row).toBe(stored)
    expect([...plan.messages[0]!.recipients].sort()).toEqual([ALICE, BOB])
    expect(plan.advances).toEqual([{conversation: A, from: 7, to: 8, ts: NOW}])
  })

  it('a batch of only repeats advances nothing and inserts nothing', () => {
    const plan = planBatch(
      input({envelopes: [env(A, ALICE, 'dup')], states: [state(A, 4, [ALICE])], existing: [row(A, 4, 'stored-id', ALICE, 'dup')]}),
    )
    expect(plan.inserts).toEqual([])
    expect(plan.advances).toEqual([])
    expect(plan.outcomes).toMatchObject([{ok: true, seq: 4, duplicate: true}])
  })

  it('a repeat is keyed by sender too: the same clientMsgId from another member is a new message', () => {
    const plan = planBatch(
      input({envelopes: [env(A, BOB, 'dup')], states: [state(A, 4, [ALICE, BOB])], existing: [row(A, 4, 'stored-id', ALICE, 'dup')]}),
    )
    expect(plan.outcomes).toMatchObject([{ok: true, seq: 5, messageId: 'id-1', duplicate: false}])
  })

  it('duplicates within one batch get the first copy seq, one insert and one fanout', () => {
    const plan = planBatch(
      input({
        envelopes: [env(A, ALICE, 'x'), env(A, ALICE, 'x', {body: 'different body'}), env(A, ALICE, 'y'), env(A, ALICE, 'x')],
        states: [state(A, 0, [ALICE, BOB])],
      }),
    )
    expect(plan.outcomes.map((o) => (o.ok ? [o.seq, o.messageId, o.duplicate] : o.error.code))).toEqual([
      [1, 'id-1', false],
      [1, 'id-1', true],
      [2, 'id-2', false],
      [1, 'id-1', true],
    ])
    expect(plan.inserts.map((r) => [r.seq, r.body])).toEqual([
      [1, 'hello'],
      [2, 'hello'],
    ])
    expect(plan.messages.map((m) => [m.row.seq, m.fresh])).toEqual([
      [1, true],
      [2, true],
    ])
    expect(plan.advances).toEqual([{conversation: A, from: 0, to: 2, ts: NOW}])
  })

  it('unknown conversation -> not_found, consuming nothing', () => {
    const plan = planBatch(input({envelopes: [env('ghost', ALICE, 'm'), env(A, ALICE, 'm')], states: [state(A, 2, [ALICE])]}))
    expect(plan.outcomes[0]).toMatchObject({key: sendKey('ghost', ALICE, 'm'), ok: false, error: {code: 'not_found'}})
    expect(plan.outcomes[1]).toMatchObject({ok: true, seq: 3})
    expect(plan.advances).toEqual([{conversation: A, from: 2, to: 3, ts: NOW}])
  })

  it('a conversation mapped to undefined is not_found too', () => {
    const states = new Map<string, ConversationState | undefined>([['gone', undefined]])
    const plan = planBatch({envelopes: [env('gone', ALICE, 'm')], states, existing: new Map(), now: NOW, newId: ids()})
    expect(plan.outcomes).toMatchObject([{ok: false, error: {code: 'not_found'}}])
    expect(plan.advances).toEqual([])
  })

  it('non-member -> forbidden and consumes no seq (no gaps)', () => {
    const plan = planBatch(
      input({
        envelopes: [env(A, ALICE, '1'), env(A, CAROL, '2'), env(A, BOB, '3'), env(A, CAROL, '4'), env(A, ALICE, '5')],
        states: [state(A, 20, [ALICE, BOB])],
      }),
    )
    expect(plan.outcomes.map((o) => (o.ok ? o.seq : o.error.code))).toEqual([21, 'forbidden', 22, 'forbidden', 23])
    expect(plan.inserts.map((r) => r.seq)).toEqual([21, 22, 23])
    expect(plan.messages.map((m) => m.row.seq)).toEqual([21, 22, 23])
    expect(plan.advances).toEqual([{conversation: A, from: 20, to: 23, ts: NOW}])
  })

  it('replyTo at or after the assigned seq -> invalid_request consuming no seq', () => {
    const plan = planBatch(
      input({
        envelopes: [
          env(A, ALICE, 'self', {replyTo: 6}),
          env(A, ALICE, 'future', {replyTo: 100}),
          env(A, ALICE, 'ok-prev', {replyTo: 5}),
          env(A, ALICE, 'ok-in-batch', {replyTo: 6}),
          env(A, ALICE, 'self-again', {replyTo: 8}),
        ],
        states: [state(A, 5, [ALICE])],
      }),
    )
    expect(plan.outcomes.map((o) => (o.ok ? o.seq : o.error.code))).toEqual(['invalid_request', 'invalid_request', 6, 7, 'invalid_request'])
    expect(plan.inserts.map((r) => [r.seq, r.reply_to])).toEqual([
      [6, 5],
      [7, 6],
    ])
    expect(plan.advances).toEqual([{conversation: A, from: 5, to: 7, ts: NOW}])
  })

  it('newId is called only for new messages', () => {
    let calls = 0
    const plan = planBatch({
      ...input({
        envelopes: [env(A, CAROL, 'f'), env('ghost', ALICE, 'n'), env(A, ALICE, 'dup'), env(A, ALICE, 'r', {replyTo: 99}), env(A, ALICE, 'new')],
        states: [state(A, 1, [ALICE])],
        existing: [row(A, 1, 'stored-id', ALICE, 'dup')],
      }),
      newId: () => `fresh-${++calls}`,
    })
    expect(calls).toBe(1)
    expect(plan.inserts.map((r) => r.id)).toEqual(['fresh-1'])
  })

  it('outcomes are in input order, one per envelope, keyed by sendKey', () => {
    const envelopes = [
      env(B, ALICE, 'k1'),
      env('ghost', BOB, 'k2'),
      env(A, CAROL, 'k3'),
      env(A, ALICE, 'k4', {replyTo: 50}),
      env(A, ALICE, 'k5'),
      env(B, ALICE, 'k1'),
    ]
    const plan = planBatch(input({envelopes, states: [state(A, 0, [ALICE]), state(B, 9, [ALICE])]}))
    expect(plan.outcomes).toHaveLength(envelopes.length)
    expect(plan.outcomes.map((o) => o.key)).toEqual(envelopes.map((e) => sendKey(e.conv, e.sender, e.clientMsgId)))
    expect(plan.outcomes.map((o) => (o.ok ? `${o.seq}${o.duplicate ? 'd' : ''}` : o.error.code))).toEqual([
      '10',
      'not_found',
      'forbidden',
      'invalid_request',
      '1',
      '10d',
    ])
  })

  it('recipients are a snapshot, not the live member set', () => {
    const members = new Map<string, 'member'>([[ALICE, 'member'], [BOB, 'member']])
    const plan = planBatch(input({envelopes: [env(A, ALICE, 'm')], states: [{id: A, kind: 'direct', lastSeq: 0, members}]}))
    members.set(CAROL, 'member')
    expect([...plan.messages[0]!.recipients].sort()).toEqual([ALICE, BOB])
  })
})

interface InputSpec {
  envelopes: IngestEnvelope[]
  states: ConversationState[]
  existing?: MessageRow[]
}

function input(spec: InputSpec): PlanInput {
  return {
    envelopes: spec.envelopes,
    states: new Map(spec.states.map((s) => [s.id, s])),
    existing: new Map((spec.existing ?? []).map((r) => [sendKey(r.conversation_id, r.sender_id, r.client_msg_id), r])),
    now: NOW,
    newId: ids(),
  }
}

function ids(): () => string {
  let n = 0
  return () => `id-${++n}`
}

function state(id: string, lastSeq: number, members: string[]): ConversationState {
  return {id, kind: 'direct', lastSeq, members: new Map(members.map((m) => [m, 'member'] as const))}
}

function env(conv: string, sender: string, clientMsgId: string, extra: Partial<IngestEnvelope> = {}): IngestEnvelope {
  return {v: 1, conv, sender, senderDevice: `${sender}-device`, clientMsgId, kind: 'text', body: 'hello', gw: 'gw-1', at: 0, ...extra}
}

function row(conversation: string, seq: number, id: string, sender: string, clientMsgId: string): MessageRow {
  return {
    conversation_id: conversation,
    seq,
    id,
    sender_id: sender,
    sender_device: `${sender}-device`,
    client_msg_id: clientMsgId,
    kind: 'text',
    body: 'stored',
    reply_to: null,
    created_at: EARLIER,
  }
}
