import {describe, expect, it} from 'vitest'

import {
  type ChatState,
  deliveryMark,
  FIRST_SYNC_WINDOW,
  type IncomingMessage,
  initialState,
  KEEP_MESSAGES,
  needsSync,
  reduce,
  sortedConversations,
  typingUsers,
  unreadCount,
  visibleMessages,
} from '../../../src/chat/model.js'
import type {InboxEntry} from '../../../src/protocol/frames.js'

const ME = '00000000-0000-4000-8000-00000000000a'
const BEN = '00000000-0000-4000-8000-00000000000b'
const CAL = '00000000-0000-4000-8000-00000000000c'
const C1 = '10000000-0000-4000-8000-000000000001'
const C2 = '10000000-0000-4000-8000-000000000002'

const msg = (seq: number, over: Partial<IncomingMessage> = {}): IncomingMessage => ({
  seq,
  messageId: `m${seq}`,
  sender: BEN,
  senderDevice: 'd',
  ts: `2030-01-01T12:00:${String(seq % 60).padStart(2, '0')}.000Z`,
  kind: 'text',
  body: `text ${seq}`,
  text: `text ${seq}`,
  clientMsgId: `c${seq}`,
  ...over,
})

const entry = (conversation: string, over: Partial<InboxEntry> = {}): InboxEntry => ({
  conversation,
  kind: 'direct',
  status: 'member',
  muted: false,
  archived: false,
  lastSeq: 0,
  lastTs: null,
  readSeq: 0,
  deliveredSeq: 0,
  unread: 0,
  memberCount: 2,
  members: [ME, BEN],
  ...over,
})

const start = (): ChatState => reduce(initialState({userId: ME, deviceId: 'dev-me'}), {type: 'inbox', entries: [entry(C1)]})
const apply = (state: ChatState, ...messages: IncomingMessage[]) => reduce(state, {type: 'messages', conversation: C1, messages})

describe('chat model', () => {
  it('dedups by (conversation, seq), keeps seq order and advances the cursor only over contiguous seqs', () => {
    let s = apply(start(), msg(1), msg(3))
    expect(s.conversations[C1]!.cursor).toBe(1)
    expect(needsSync(s.conversations[C1]!)).toBe(true)
    s = apply(s, msg(2), msg(3, {text: 'a duplicate delivery'}), msg(1))
    const conv = s.conversations[C1]!
    expect(conv.messages.map((m) => [m.seq, m.text])).toEqual([
      [1, 'text 1'],
      [2, 'text 2'],
      [3, 'text 3'],
    ])
    expect(conv.cursor).toBe(3)
    expect(conv.lastSeq).toBe(3)
    expect(needsSync(conv)).toBe(false)
    // Below the cursor nothing is applied again, even after the messages were trimmed away.
    expect(apply(s, msg(2, {text: 'again'})).conversations[C1]).toBe(conv)
  })

  it('counts unread from the inbox baseline plus newer messages of other people, not mine, entries or deletes', () => {
    let s = reduce(start(), {type: 'inbox', entries: [entry(C1, {lastSeq: 10, readSeq: 7, unread: 3})]})
    expect(unreadCount(s.conversations[C1]!, ME)).toBe(3)
    s = apply(s, msg(11), msg(12, {kind: 'reaction', body: {target: 11, emoji: '👍', op: 'add'}}), msg(13, {kind: 'system', body: {action: 'x'}}))
    expect(unreadCount(s.conversations[C1]!, ME)).toBe(4)
    // My own message at 14 moved my read watermark past everything before it: only what follows counts.
    s = apply(s, msg(14, {sender: ME}))
    expect(unreadCount(s.conversations[C1]!, ME)).toBe(0)
    s = apply(s, msg(15), msg(16, {deleted: true, body: null}))
    expect(unreadCount(s.conversations[C1]!, ME)).toBe(1)
    s = reduce(s, {type: 'read', conversation: C1, seq: 16})
    expect(unreadCount(s.conversations[C1]!, ME)).toBe(0)
    // My other device read it: same effect through a receipt event.
    s = apply(s, msg(17), msg(18))
    expect(unreadCount(s.conversations[C1]!, ME)).toBe(2)
    s = reduce(s, {type: 'receipt', event: {conversation: C1, user: ME, device: 'other', type: 'read', seq: 18}})
    expect(unreadCount(s.conversations[C1]!, ME)).toBe(0)
  })

  it('turns other members’ receipts into delivered and read marks on my messages', () => {
    let s = apply(start(), msg(1, {sender: ME}), msg(2, {sender: ME}))
    const mark = (seq: number) => deliveryMark(s.conversations[C1]!, seq, ME)
    expect(mark(2)).toBe('sent')
    s = reduce(s, {type: 'receipt', event: {conversation: C1, user: BEN, device: 'd', type: 'delivered', seq: 2}})
    expect([mark(1), mark(2)]).toEqual(['delivered', 'delivered'])
    s = reduce(s, {type: 'receipt', event: {conversation: C1, user: BEN, device: 'd', type: 'read', seq: 1}})
    expect([mark(1), mark(2)]).toEqual(['read', 'delivered'])
    // Watermarks never go back.
    const before = s
    s = reduce(s, {type: 'receipt', event: {conversation: C1, user: BEN, device: 'd', type: 'delivered', seq: 1}})
    expect(s).toBe(before)
    // In a group, a mark needs every other member.
    s = reduce(s, {type: 'conversation', id: C2, kind: 'group', name: 'g', members: [ME, BEN, CAL]})
    s = reduce(s, {type: 'messages', conversation: C2, messages: [msg(1, {sender: ME})]})
    s = reduce(s, {type: 'receipt', event: {conversation: C2, user: BEN, device: 'd', type: 'read', seq: 1}})
    expect(deliveryMark(s.conversations[C2]!, 1, ME)).toBe('sent')
    s = reduce(s, {type: 'receipt', event: {conversation: C2, user: CAL, device: 'd', type: 'read', seq: 1}})
    expect(deliveryMark(s.conversations[C2]!, 1, ME)).toBe('read')
  })

  it('applies reaction, edit and delete entries to their targets, once each', () => {
    let s = apply(start(), msg(1), msg(2, {sender: ME}))
    const react = (seq: number, user: string, emoji: string, op = 'add') => msg(seq, {sender: user, kind: 'reaction', body: {target: 1, emoji, op}})
    s = apply(s, react(3, BEN, '👍'), react(4, ME, '👍'), react(5, ME, '❤️'), react(6, ME, '❤️', 'remove'))
    expect(s.conversations[C1]!.messages[0]!.reactions).toEqual({'👍': [BEN, ME]})
    s = apply(s, react(4, ME, '👍', 'remove')) // a redelivered entry changes nothing
    expect(s.conversations[C1]!.messages[0]!.reactions).toEqual({'👍': [BEN, ME]})

    s = apply(s, msg(7, {sender: ME, kind: 'edit', body: {target: 2, body: 'fixed', version: 2}}))
    s = apply(s, msg(8, {sender: ME, kind: 'edit', body: {target: 2, body: 'stale', version: 2}}))
    expect(s.conversations[C1]!.messages[1]).toMatchObject({text: 'fixed', edited: true, version: 2})

    s = apply(s, msg(9, {sender: BEN, kind: 'delete', body: {target: 1}}))
    const conv = s.conversations[C1]!
    expect(conv.messages[0]).toMatchObject({deleted: true, body: null, reactions: {}})
    expect(conv.messages[0]!.text).toBeUndefined()
    // Entries are not shown as messages.
    expect(visibleMessages(conv).map((m) => m.seq)).toEqual([1, 2])
    expect(conv.cursor).toBe(9)
  })

  it('sends through the outbox: queued, acknowledged (even when sync saw it first), failed', () => {
    let s = reduce(start(), {type: 'queued', pending: {conversation: C1, clientMsgId: 'k1', text: 'hi', replyTo: 1}})
    s = reduce(s, {type: 'queued', pending: {conversation: C1, clientMsgId: 'k1', text: 'hi'}})
    expect(s.outbox).toHaveLength(1)
    s = reduce(s, {type: 'sent', conversation: C1, clientMsgId: 'k1', seq: 1, messageId: 'm1', ts: '2030-01-01T12:00:00.000Z'})
    expect(s.outbox).toEqual([])
    expect(s.conversations[C1]!.messages[0]).toMatchObject({seq: 1, sender: ME, text: 'hi', replyTo: 1})

    s = reduce(s, {type: 'queued', pending: {conversation: C1, clientMsgId: 'k2', text: 'again'}})
    s = apply(s, msg(2, {sender: ME, clientMsgId: 'k2', text: 'again'}))
    expect(s.outbox).toEqual([])
    const same = reduce(s, {type: 'sent', conversation: C1, clientMsgId: 'k2', seq: 2, messageId: 'm2', ts: 'x'})
    expect(same.conversations[C1]!.messages).toHaveLength(2)

    s = reduce(s, {type: 'queued', pending: {conversation: C1, clientMsgId: 'k3', text: 'x'}})
    s = reduce(s, {type: 'send-failed', clientMsgId: 'k3', error: 'forbidden'})
    expect(s.outbox[0]).toMatchObject({failed: 'forbidden'})
  })

  it('keeps typing until it expires or stops, and presence per user', () => {
    let s = reduce(start(), {type: 'typing', event: {conversation: C1, user: BEN, state: true, expiresInMs: 6000}, now: 1000})
    expect(typingUsers(s.conversations[C1]!, 2000)).toEqual([BEN])
    expect(typingUsers(s.conversations[C1]!, 7000)).toEqual([])
    s = reduce(s, {type: 'tick', now: 7000})
    expect(s.conversations[C1]!.typing).toEqual({})
    s = reduce(s, {type: 'typing', event: {conversation: C1, user: BEN, state: true, expiresInMs: 6000}, now: 1000})
    s = reduce(s, {type: 'typing', event: {conversation: C1, user: BEN, state: false, expiresInMs: 6000}, now: 1100})
    expect(typingUsers(s.conversations[C1]!, 1200)).toEqual([])
    s = reduce(s, {type: 'presence', views: [{user: BEN, status: 'away', lastSeen: null}]})
    expect(s.presence[BEN]!.status).toBe('away')
  })

  it('starts a long conversation near its end, orders conversations by activity and follows group system messages', () => {
    let s = reduce(start(), {type: 'inbox', entries: [entry(C2, {kind: 'group', name: 'g', lastSeq: 1000, lastTs: '2030-02-01T00:00:00.000Z', members: undefined})]})
    expect(s.conversations[C2]!.cursor).toBe(1000 - FIRST_SYNC_WINDOW)
    expect(sortedConversations(s).map((c) => c.id)).toEqual([C2, C1])
    s = apply(s, msg(1, {ts: '2030-03-01T00:00:00.000Z'}))
    expect(sortedConversations(s).map((c) => c.id)).toEqual([C1, C2])

    const sys = (seq: number, body: object) => msg(seq, {kind: 'system', body})
    s = reduce(s, {type: 'messages', conversation: C2, messages: [sys(801, {action: 'members.added', actor: ME, members: [BEN, CAL]})]})
    s = reduce(s, {type: 'messages', conversation: C2, messages: [sys(802, {action: 'member.left', actor: CAL}), sys(803, {action: 'group.updated', actor: ME, name: 'renamed'})]})
    expect(s.conversations[C2]).toMatchObject({members: [BEN], name: 'renamed'})
    // A former member's conversation needs no more syncing.
    s = reduce(s, {type: 'inbox', entries: [entry(C2, {kind: 'group', status: 'removed', lastSeq: 900, memberCount: 0, members: undefined})]})
    expect(needsSync(s.conversations[C2]!)).toBe(false)
  })

  it('hides messages deleted for me and trims old messages below the cursor', () => {
    let s = apply(start(), ...Array.from({length: KEEP_MESSAGES + 50}, (_, i) => msg(i + 1)))
    const conv = s.conversations[C1]!
    expect(conv.messages).toHaveLength(KEEP_MESSAGES)
    expect(conv.messages[0]!.seq).toBe(51)
    expect(conv.cursor).toBe(KEEP_MESSAGES + 50)
    s = reduce(s, {type: 'hidden', conversation: C1, seqs: [60]})
    expect(visibleMessages(s.conversations[C1]!).some((m) => m.seq === 60)).toBe(false)
  })
})
