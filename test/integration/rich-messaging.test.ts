import {randomUUID} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {MsgrClient} from '../../src/client/client.js'
import type {HiddenEvent, PresenceEvent, TypingEvent} from '../../src/protocol/frames.js'
import {availableLegs, LEGS, sleep, startCluster, type TestCluster} from '../helpers/cluster.js'
import {expectCode, inboxEntry, otherDevice, type Person, person, syncAll, waitMessage} from '../helpers/protocol.js'

// Reactions, edits, deletes (for everyone / for me), forwards, blocking, typing and presence through real
// WebSocket clients on both adapter sets, two gateways. Reactions, edits and deletes for everyone are
// entries of the conversation's own seq stream (kinds 'reaction', 'edit', 'delete'), applied by the worker
// in seq order (src/core/message-rules.ts); typing and presence are ephemeral (src/server/gateway/presence.ts).

const available = await availableLegs()

describe.each(LEGS)('rich messaging on %s adapters', (leg) => {
  describe.runIf(available[leg])('content', () => {
    let cluster: TestCluster

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('reactions: add and remove, aggregated in sync, seen live by the other member as `reaction` entries', async () => {
      const {a, b, conversation} = await direct(cluster)
      const b2 = await otherDevice(cluster, b, 0)
      await a.c.request('send', {conversation, clientMsgId: 'm1', kind: 'text', body: 'react to me'})

      expect(await b.c.request('react', {conversation, seq: 1, emoji: '👍'})).toEqual({seq: 2})
      expect(await waitMessage(a.c, conversation, 2)).toMatchObject({
        kind: 'reaction',
        sender: b.id,
        senderDevice: b.pair.deviceId,
        body: {target: 1, emoji: '👍', op: 'add'},
      })
      await waitMessage(b2.c, conversation, 2) // the reactor's other device too
      expect(await a.c.request('react', {conversation, seq: 1, emoji: '👍'})).toEqual({seq: 3})
      expect(await a.c.request('react', {conversation, seq: 1, emoji: '❤️'})).toEqual({seq: 4})
      await waitMessage(b.c, conversation, 4)

      let history = await syncAll(b.c, conversation)
      expect(history.map((m) => [m.seq, m.kind])).toEqual([
        [1, 'text'],
        [2, 'reaction'],
        [3, 'reaction'],
        [4, 'reaction'],
      ])
      expect(history[0]!.reactions).toEqual({'👍': 2, '❤️': 1})
      expect(history[0]!.body).toBe('react to me')
      // The same aggregate for every member.
      expect((await syncAll(a.c, conversation))[0]!.reactions).toEqual({'👍': 2, '❤️': 1})

      expect(await b.c.request('react', {conversation, seq: 1, emoji: '👍', remove: true})).toEqual({seq: 5})
      expect(await waitMessage(a.c, conversation, 5)).toMatchObject({kind: 'reaction', body: {target: 1, emoji: '👍', op: 'remove'}})
      expect((await syncAll(b.c, conversation))[0]!.reactions).toEqual({'👍': 1, '❤️': 1})
      // Adding the same reaction twice counts once.
      await a.c.request('react', {conversation, seq: 1, emoji: '❤️'})
      expect((await syncAll(b.c, conversation))[0]!.reactions).toEqual({'👍': 1, '❤️': 1})
      await a.c.request('react', {conversation, seq: 1, emoji: '👍', remove: true})
      await a.c.request('react', {conversation, seq: 1, emoji: '❤️', remove: true})
      history = await syncAll(b.c, conversation)
      expect(history[0]!.reactions).toBeUndefined()
      expect(history.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])

      // Only content can be reacted to: not a reaction entry, not a system message; a missing seq is not_found.
      await expectCode(a.c.request('react', {conversation, seq: 2, emoji: '👍'}), 'invalid_request')
      await expectCode(a.c.request('react', {conversation, seq: 99, emoji: '👍'}), 'not_found')
      const {conversation: groupConv} = await a.c.request('group.create', {name: 'Reactors', members: [b.id]})
      await expectCode(b.c.request('react', {conversation: groupConv, seq: 1, emoji: '👍'}), 'invalid_request')
      // Membership and argument checks.
      const outsider = await person(cluster, 1)
      await expectCode(outsider.c.request('react', {conversation, seq: 1, emoji: '👍'}), 'forbidden')
      await expectCode(a.c.request('react', {conversation: randomUUID(), seq: 1, emoji: '👍'}), 'not_found')
      await expectCode(a.c.request('react', {conversation, seq: 1, emoji: ''}), 'invalid_request')
      await expectCode(a.c.request('react', {conversation, seq: 1, emoji: 'x'.repeat(33)}), 'invalid_request')
    })

    it('edits: only the sender, the version increments, sync shows the current body; an offline device catches up', async () => {
      const {a, b, conversation} = await direct(cluster)
      const a2 = await otherDevice(cluster, a, 1)
      await a.c.request('send', {conversation, clientMsgId: 'm1', kind: 'text', body: 'helo'})
      await waitMessage(a2.c, conversation, 1)
      const {token} = await a2.c.request('inbox', {})
      await a2.c.close()

      await expectCode(b.c.request('edit', {conversation, seq: 1, body: 'not yours'}), 'forbidden')
      expect(await a.c.request('edit', {conversation, seq: 1, body: 'hello'})).toEqual({seq: 2})
      expect(await waitMessage(b.c, conversation, 2)).toMatchObject({kind: 'edit', sender: a.id, body: {target: 1, body: 'hello', version: 2}})
      expect(await a.c.request('edit', {conversation, seq: 1, body: {text: 'hello!', mentions: [b.id]}})).toEqual({seq: 3})
      expect(await waitMessage(b.c, conversation, 3)).toMatchObject({kind: 'edit', body: {target: 1, body: {text: 'hello!', mentions: [b.id]}, version: 3}})

      const history = await syncAll(b.c, conversation)
      expect(history.map((m) => [m.seq, m.kind])).toEqual([
        [1, 'text'],
        [2, 'edit'],
        [3, 'edit'],
      ])
      const edited = history[0]!
      expect(edited).toMatchObject({body: {text: 'hello!', mentions: [b.id]}, edited: true, version: 3, clientMsgId: 'm1', sender: a.id})
      expect(Date.parse(edited.editedAt!)).toBeGreaterThanOrEqual(Date.parse(edited.ts))
      // The history keeps every version, oldest first, for any member.
      const {versions} = await b.c.request('versions', {conversation, seq: 1})
      expect(versions.map((v) => [v.version, v.body])).toEqual([
        [1, 'helo'],
        [2, 'hello'],
        [3, {text: 'hello!', mentions: [b.id]}],
      ])
      // Edit entries themselves are not content: they cannot be edited, reacted to or forwarded.
      await expectCode(a.c.request('edit', {conversation, seq: 2, body: 'x'}), 'invalid_request')
      await expectCode(a.c.request('edit', {conversation, seq: 42, body: 'x'}), 'not_found')
      await expectCode(a.c.request('edit', {conversation, seq: 1, body: 'x'.repeat(16 * 1024 + 1)}), 'too_large')

      // The offline device: inbox says the conversation moved, sync brings the edit entries and the edited message.
      const back = await cluster.connect(a2.pair, 0)
      const changes = await back.request('inbox', {after: token})
      expect(changes.conversations.find((c) => c.conversation === conversation)?.lastSeq).toBe(3)
      const missed = await back.request('sync', {conversation, after: 1})
      expect(missed.messages.map((m) => [m.seq, m.kind, m.body])).toEqual([
        [2, 'edit', {target: 1, body: 'hello', version: 2}],
        [3, 'edit', {target: 1, body: {text: 'hello!', mentions: [b.id]}, version: 3}],
      ])
      const whole = await syncAll(back, conversation)
      expect(whole[0]).toEqual(edited)
    })

    it('unread in inbox counts only messages people wrote: not reactions, edits, deletes or tombstones', async () => {
      const {a, b, conversation} = await direct(cluster)
      await a.c.request('send', {conversation, clientMsgId: 'm1', kind: 'text', body: 'one'})
      expect(await inboxEntry(b.c, conversation)).toMatchObject({lastSeq: 1, unread: 1})
      await b.c.request('receipt', {conversation, type: 'read', seq: 1})
      // Behaviour today (src/core/store/conversations.ts inbox): entries of kinds reaction/edit/delete by
      // the other member move lastSeq but never count as unread. Sensible: "unread" badges people's messages.
      await a.c.request('react', {conversation, seq: 1, emoji: '🎉'})
      await a.c.request('edit', {conversation, seq: 1, body: 'one, edited'})
      expect(await inboxEntry(b.c, conversation)).toMatchObject({lastSeq: 3, readSeq: 1, unread: 0})
      await a.c.request('send', {conversation, clientMsgId: 'm2', kind: 'text', body: 'two'})
      expect(await inboxEntry(b.c, conversation)).toMatchObject({lastSeq: 4, readSeq: 1, unread: 1})
      // A message deleted for everyone before it was read stops counting.
      await a.c.request('delete', {conversation, seq: 4, scope: 'everyone'})
      expect(await inboxEntry(b.c, conversation)).toMatchObject({lastSeq: 5, readSeq: 1, unread: 0})
      // The reactor's own entries move its own watermarks, like sends.
      await b.c.request('react', {conversation, seq: 1, emoji: '👍'})
      expect(await inboxEntry(b.c, conversation)).toMatchObject({lastSeq: 6, readSeq: 6, unread: 0})
    })

    it('delete for everyone: sender only in a direct chat; a tombstone keeps its seq; reactions go; nothing can target it', async () => {
      const {a, b, conversation} = await direct(cluster)
      await a.c.request('send', {conversation, clientMsgId: 'm1', kind: 'text', body: 'oops'})
      await a.c.request('send', {conversation, clientMsgId: 'm2', kind: 'text', body: 'stays'})
      await b.c.request('react', {conversation, seq: 1, emoji: '😮'})

      await expectCode(b.c.request('delete', {conversation, seq: 1, scope: 'everyone'}), 'forbidden')
      expect(await a.c.request('delete', {conversation, seq: 1, scope: 'everyone'})).toEqual({seq: 4})
      expect(await waitMessage(b.c, conversation, 4)).toMatchObject({kind: 'delete', sender: a.id, body: {target: 1}})

      for (const c of [a.c, b.c]) {
        const history = await syncAll(c, conversation)
        expect(history.map((m) => [m.seq, m.kind])).toEqual([
          [1, 'text'],
          [2, 'text'],
          [3, 'reaction'],
          [4, 'delete'],
        ])
        const tomb = history[0]!
        expect(tomb).toMatchObject({seq: 1, deleted: true, body: null, sender: a.id, clientMsgId: 'm1'})
        expect(tomb.reactions).toBeUndefined()
        expect(tomb.edited).toBeUndefined()
        expect(history[1]).toMatchObject({body: 'stays'})
        expect(history[1]!.deleted).toBeUndefined()
      }
      await expectCode(a.c.request('edit', {conversation, seq: 1, body: 'fixed'}), 'not_found')
      await expectCode(b.c.request('react', {conversation, seq: 1, emoji: '👍'}), 'not_found')
      await expectCode(a.c.request('delete', {conversation, seq: 1, scope: 'everyone'}), 'not_found')
      await expectCode(a.c.request('delete', {conversation, seq: 3, scope: 'everyone'}), 'invalid_request') // a reaction entry
      await expectCode(a.c.request('delete', {conversation, seq: 50, scope: 'everyone'}), 'not_found')
      // A retried send with the deleted message's clientMsgId is still the (tombstoned) stored message.
      expect(await a.c.request('send', {conversation, clientMsgId: 'm1', kind: 'text', body: 'oops'})).toMatchObject({seq: 1, duplicate: true})
    })

    it('delete for everyone leaves none of the deleted content in the stream, edit entries included', async () => {
      const {a, b, conversation} = await direct(cluster)
      await a.c.request('send', {conversation, clientMsgId: 'm1', kind: 'text', body: 'first draft'})
      await a.c.request('edit', {conversation, seq: 1, body: 'my password is hunter2'})
      await a.c.request('delete', {conversation, seq: 1, scope: 'everyone'})
      const history = await syncAll(b.c, conversation)
      expect(history.map((m) => m.kind)).toEqual(['text', 'edit', 'delete'])
      expect(history[0]).toMatchObject({deleted: true, body: null})
      // Regression: the tombstone also redacts the `edit` entries that carried later texts of the message.
      expect(JSON.stringify(history)).not.toContain('hunter2')
    })

    it('delete for everyone in a group: admins and the owner moderate, members delete only their own', async () => {
      const o = await person(cluster, 0)
      const admin = await person(cluster, 1)
      const m = await person(cluster, 0)
      const m2 = await person(cluster, 1)
      const {conversation} = await o.c.request('group.create', {name: 'Moderated', members: [admin.id, m.id, m2.id]})
      await o.c.request('group.promote', {conversation, member: admin.id}) // seq 2
      const s1 = await m.c.request('send', {conversation, clientMsgId: 'm-1', kind: 'text', body: 'spam'})
      const s2 = await m.c.request('send', {conversation, clientMsgId: 'm-2', kind: 'text', body: 'more spam'})
      const s3 = await o.c.request('send', {conversation, clientMsgId: 'o-1', kind: 'text', body: 'rules'})
      const s4 = await m2.c.request('send', {conversation, clientMsgId: 'm2-1', kind: 'text', body: 'mine'})

      await expectCode(m2.c.request('delete', {conversation, seq: s1.seq, scope: 'everyone'}), 'forbidden')
      await expectCode(m.c.request('delete', {conversation, seq: s3.seq, scope: 'everyone'}), 'forbidden')
      await expectCode(m.c.request('delete', {conversation, seq: 1, scope: 'everyone'}), 'invalid_request') // the system message
      const byAdmin = await admin.c.request('delete', {conversation, seq: s1.seq, scope: 'everyone'})
      expect(await waitMessage(m.c, conversation, byAdmin.seq!)).toMatchObject({kind: 'delete', sender: admin.id, body: {target: s1.seq}})
      await o.c.request('delete', {conversation, seq: s2.seq, scope: 'everyone'})
      await m2.c.request('delete', {conversation, seq: s4.seq, scope: 'everyone'})

      const history = await syncAll(m2.c, conversation)
      const bySeq = new Map(history.map((x) => [x.seq, x]))
      for (const seq of [s1.seq, s2.seq, s4.seq]) expect(bySeq.get(seq)).toMatchObject({deleted: true, body: null})
      expect(bySeq.get(s3.seq)).toMatchObject({body: 'rules'})
      expect(history.map((x) => x.seq)).toEqual(Array.from({length: history.length}, (_, i) => i + 1))
    })

    it('delete for me: only the caller’s sync hides it; the other member is unaffected; the caller’s other devices get `hidden`', async () => {
      const {a, b, conversation} = await direct(cluster)
      const a2 = await otherDevice(cluster, a, 1)
      await b.c.request('send', {conversation, clientMsgId: 'b1', kind: 'text', body: 'embarrassing'})
      await b.c.request('send', {conversation, clientMsgId: 'b2', kind: 'text', body: 'fine'})
      await b.c.request('react', {conversation, seq: 1, emoji: '😂'})
      await waitMessage(a2.c, conversation, 3)

      expect(await a.c.request('delete', {conversation, seq: 1, scope: 'me'})).toEqual({})
      const hidden = await a2.c.waitForEvent((e): e is HiddenEvent => e.ev === 'hidden' && e.conversation === conversation)
      expect(hidden).toEqual({ev: 'hidden', conversation, seqs: [1]})

      for (const c of [a.c, a2.c]) {
        const mine = await syncAll(c, conversation)
        expect(mine.map((m) => m.seq)).toEqual([1, 2, 3])
        expect(mine[0]).toMatchObject({seq: 1, hidden: true, body: null, sender: b.id})
        expect(mine[0]!.reactions).toBeUndefined()
        expect(mine[0]!.deleted).toBeUndefined()
        expect(mine[1]).toMatchObject({body: 'fine'})
        expect(mine[1]!.hidden).toBeUndefined()
      }
      const theirs = await syncAll(b.c, conversation)
      expect(theirs[0]).toMatchObject({body: 'embarrassing', reactions: {'😂': 1}})
      expect(theirs[0]!.hidden).toBeUndefined()
      // Hiding is per user and idempotent; the device that asked gets the reply, not the event.
      expect(await a2.c.request('delete', {conversation, seq: 1, scope: 'me'})).toEqual({})
      await expectCode(a.c.request('delete', {conversation, seq: 99, scope: 'me'}), 'not_found')
      const outsider = await person(cluster, 0)
      await expectCode(outsider.c.request('delete', {conversation, seq: 1, scope: 'me'}), 'forbidden')
      await sleep(200)
      expect(b.c.events.filter((e) => e.ev === 'hidden')).toEqual([])
      expect(a.c.events.filter((e) => e.ev === 'hidden')).toEqual([{ev: 'hidden', conversation, seqs: [1]}]) // from a2's repeat
      // A message hidden for me can still be deleted for everyone by its sender: it becomes a tombstone.
      await b.c.request('delete', {conversation, seq: 1, scope: 'everyone'})
      expect((await syncAll(a.c, conversation))[0]).toMatchObject({deleted: true, hidden: true, body: null})
    })

    it('forward: a copy with attribution; only from a conversation the caller is in; not a deleted message', async () => {
      const {a, b, conversation: source} = await direct(cluster)
      const c = await person(cluster, 1)
      const {conversation: target} = await a.c.request('conv.direct', {with: c.id})
      await b.c.request('send', {conversation: source, clientMsgId: 'b1', kind: 'text', body: 'pass it on'})
      await b.c.request('send', {conversation: source, clientMsgId: 'b2', kind: 'location', body: {lat: 1.5, lon: 2.5}})

      const fwd = await a.c.request('forward', {conversation: target, clientMsgId: 'f1', from: {conversation: source, seq: 1}})
      expect(fwd).toMatchObject({seq: 1, messageId: expect.any(String), ts: expect.any(String)})
      const live = await waitMessage(c.c, target, 1)
      expect(live).toMatchObject({kind: 'text', body: 'pass it on', sender: a.id, clientMsgId: 'f1', forwardedFrom: {conversation: source, seq: 1, sender: b.id}})
      const stored = (await syncAll(c.c, target))[0]!
      expect(stored).toMatchObject({messageId: fwd.messageId, forwardedFrom: {conversation: source, seq: 1, sender: b.id}, body: 'pass it on'})
      // Object bodies and other content kinds are copied as they are; a retry is idempotent like send.
      const loc = await a.c.request('forward', {conversation: target, clientMsgId: 'f2', from: {conversation: source, seq: 2}})
      expect((await waitMessage(c.c, target, loc.seq)).body).toEqual({lat: 1.5, lon: 2.5})
      expect(await a.c.request('forward', {conversation: target, clientMsgId: 'f1', from: {conversation: source, seq: 1}})).toMatchObject({
        seq: 1,
        messageId: fwd.messageId,
        duplicate: true,
      })

      // c is not in the source conversation.
      await expectCode(c.c.request('forward', {conversation: target, clientMsgId: 'f3', from: {conversation: source, seq: 1}}), 'forbidden')
      // a is not in the target conversation.
      const {conversation: bc} = await b.c.request('conv.direct', {with: c.id})
      await expectCode(a.c.request('forward', {conversation: bc, clientMsgId: 'f4', from: {conversation: source, seq: 1}}), 'forbidden')
      await expectCode(a.c.request('forward', {conversation: target, clientMsgId: 'f5', from: {conversation: source, seq: 99}}), 'not_found')
      await a.c.request('react', {conversation: source, seq: 1, emoji: '👍'})
      await expectCode(a.c.request('forward', {conversation: target, clientMsgId: 'f6', from: {conversation: source, seq: 3}}), 'invalid_request')

      await b.c.request('delete', {conversation: source, seq: 1, scope: 'everyone'})
      await expectCode(a.c.request('forward', {conversation: target, clientMsgId: 'f7', from: {conversation: source, seq: 1}}), 'not_found')
      // Behaviour today: copies forwarded before the delete keep their content (the delete is per conversation),
      // as in other messengers; the attribution still points at the tombstone.
      expect((await syncAll(c.c, target))[0]).toMatchObject({body: 'pass it on', forwardedFrom: {conversation: source, seq: 1}})
    })

    it('blocking: the blocked user cannot send or start the direct conversation; unblock restores; user.blocks lists', async () => {
      const {a, b, conversation} = await direct(cluster)
      await b.c.request('send', {conversation, clientMsgId: 'before', kind: 'text', body: 'hi'})
      expect(await a.c.request('user.block', {user: b.id})).toEqual({})
      expect(await a.c.request('user.blocks', {})).toEqual({users: [b.id]})
      expect(await b.c.request('user.blocks', {})).toEqual({users: []})
      expect(await a.c.request('user.block', {user: b.id})).toEqual({}) // idempotent
      expect(await a.c.request('user.blocks', {})).toEqual({users: [b.id]})

      await expectCode(b.c.request('send', {conversation, clientMsgId: 'after', kind: 'text', body: 'hello?'}), 'forbidden')
      await expectCode(b.c.request('conv.direct', {with: a.id}), 'forbidden')
      // b can still read the history it already had.
      expect((await syncAll(b.c, conversation)).map((m) => m.body)).toEqual(['hi'])
      // The blocker must unblock before sending (as WhatsApp and Messenger ask), but may still open the chat.
      await expectCode(a.c.request('send', {conversation, clientMsgId: 'blocker', kind: 'text', body: 'still me'}), 'forbidden')
      expect((await a.c.request('conv.direct', {with: b.id})).conversation).toBe(conversation)

      expect(await a.c.request('user.unblock', {user: b.id})).toEqual({})
      expect(await a.c.request('user.blocks', {})).toEqual({users: []})
      expect((await b.c.request('send', {conversation, clientMsgId: 'after-unblock', kind: 'text', body: 'thanks'})).seq).toBe(2)
      expect((await b.c.request('conv.direct', {with: a.id})).conversation).toBe(conversation)

      // Blocking works before any conversation exists; user.blocks lists in blocking order.
      const x = await person(cluster, 0)
      const y = await person(cluster, 1)
      const z = await person(cluster, 0)
      await x.c.request('user.block', {user: y.id})
      await x.c.request('user.block', {user: z.id})
      expect(await x.c.request('user.blocks', {})).toEqual({users: [y.id, z.id]})
      await expectCode(y.c.request('conv.direct', {with: x.id}), 'forbidden')
      const {conversation: xy} = await x.c.request('conv.direct', {with: y.id})
      await expectCode(y.c.request('send', {conversation: xy, clientMsgId: 'y1', kind: 'text', body: 'hey'}), 'forbidden')
      await x.c.request('user.unblock', {user: y.id})
      expect((await y.c.request('send', {conversation: xy, clientMsgId: 'y2', kind: 'text', body: 'hey'})).seq).toBe(1)

      await expectCode(a.c.request('user.block', {user: a.id}), 'invalid_request')
      await expectCode(a.c.request('user.block', {user: randomUUID()}), 'not_found')
      await expectCode(a.c.request('user.block', {user: 'nope'}), 'invalid_request')
    })

    it('blocking: the blocked user cannot reach the blocker through reactions or typing either', async () => {
      const {a, b, conversation} = await direct(cluster)
      await a.c.request('send', {conversation, clientMsgId: 'a1', kind: 'text', body: 'hi'})
      await a.c.request('user.block', {user: b.id})
      // Regression: a blocked user's reactions (and edits) are refused, so nothing of theirs reaches the blocker.
      expect.soft(await codeOf(b.c.request('react', {conversation, seq: 1, emoji: '😡'}))).toBe('forbidden')
      // Regression: typing from a blocked user is dropped before it reaches the blocker.
      await b.c.request('typing', {conversation, state: true}).catch(() => {})
      await sleep(500)
      expect.soft(a.c.events.filter((e) => e.ev === 'message' && e.sender === b.id)).toEqual([])
      expect(a.c.events.filter((e) => e.ev === 'typing')).toEqual([])
    })

    it('typing: the other member gets true/false with expiresInMs; repeated true within 3 s is coalesced; non-members refused', async () => {
      const {a, b, conversation} = await direct(cluster)
      const a2 = await otherDevice(cluster, a, 1)
      const typingAt = (c: MsgrClient) => c.events.filter((e): e is TypingEvent => e.ev === 'typing' && e.conversation === conversation)

      expect(await a.c.request('typing', {conversation, state: true})).toEqual({})
      expect(await b.c.waitForEvent((e) => e.ev === 'typing' && e.conversation === conversation)).toEqual({
        ev: 'typing',
        conversation,
        user: a.id,
        state: true,
        expiresInMs: 6000,
      })
      // Refreshing within 3 s from the same connection is dropped at the gateway.
      await a.c.request('typing', {conversation, state: true})
      await a.c.request('typing', {conversation, state: true})
      await a.c.request('typing', {conversation, state: false})
      await b.c.waitForEvent((e) => e.ev === 'typing' && e.conversation === conversation && !e.state)
      await sleep(300)
      expect(typingAt(b.c).map((e) => e.state)).toEqual([true, false])
      expect(typingAt(b.c)[1]).toMatchObject({user: a.id, expiresInMs: 6000})
      // The typist's own devices are not told.
      expect(typingAt(a2.c)).toEqual([])
      // After false, true goes out again at once; another connection has its own window.
      await a.c.request('typing', {conversation, state: true})
      await a2.c.request('typing', {conversation, state: true})
      await waitForCount(() => typingAt(b.c).length, 4)
      expect(typingAt(b.c).map((e) => e.state)).toEqual([true, false, true, true])

      const outsider = await person(cluster, 0)
      await expectCode(outsider.c.request('typing', {conversation, state: true}), 'forbidden')
      await expectCode(a.c.request('typing', {conversation: randomUUID(), state: true}), 'not_found')
      await expectCode(a.c.request('typing', {conversation, state: 'yes'}), 'invalid_request')
    })

    it('typing: a member removed from a group gets no more typing events', async () => {
      const o = await person(cluster, 0)
      const m1 = await person(cluster, 1)
      const m2 = await person(cluster, 1)
      const {conversation} = await o.c.request('group.create', {name: 'Typists', members: [m1.id, m2.id]})
      await o.c.request('typing', {conversation, state: true})
      await m2.c.waitForEvent((e) => e.ev === 'typing' && e.conversation === conversation)
      await o.c.request('group.remove', {conversation, members: [m2.id]})
      await o.c.request('typing', {conversation, state: false})
      await m1.c.waitForEvent((e) => e.ev === 'typing' && e.conversation === conversation && !e.state)
      await sleep(300)
      // Regression: typing recipients are read fresh, so a member removed a moment ago hears nothing more.
      expect(m2.c.events.filter((e) => e.ev === 'typing' && e.conversation === conversation).map((e) => (e as TypingEvent).state)).toEqual([true])
    })

    it('presence: contacts see presence.set with custom text; chosen offline reads as offline; presence.get only for people one shares a conversation with', async () => {
      const {a, b} = await direct(cluster)
      const stranger = await person(cluster, 0)
      const fromA = (c: MsgrClient) => c.events.filter((e): e is PresenceEvent => e.ev === 'presence' && e.user === a.id)

      expect(await a.c.request('presence.set', {status: 'busy', custom: 'in a meeting'})).toEqual({status: 'busy', custom: 'in a meeting'})
      expect(await b.c.waitForEvent((e) => e.ev === 'presence' && e.user === a.id && e.status === 'busy', 5000)).toEqual({
        ev: 'presence',
        user: a.id,
        status: 'busy',
        custom: 'in a meeting',
        lastSeen: null,
      })
      expect(await b.c.request('presence.get', {users: [a.id, stranger.id]})).toEqual({
        presence: [{user: a.id, status: 'busy', custom: 'in a meeting', lastSeen: null}],
      })
      // No shared conversation: nothing about that user, and no events.
      expect(await stranger.c.request('presence.get', {users: [a.id, b.id]})).toEqual({presence: []})

      // "offline" chosen while connected is invisible: contacts see offline, without the custom text.
      expect(await a.c.request('presence.set', {status: 'offline'})).toEqual({status: 'offline'})
      const invisible = await b.c.waitForEvent((e) => e.ev === 'presence' && e.user === a.id && e.status === 'offline', 5000)
      expect(invisible).toMatchObject({user: a.id, status: 'offline'})
      expect((invisible as PresenceEvent).custom).toBeUndefined()
      const got = (await b.c.request('presence.get', {users: [a.id]})).presence
      expect(got).toHaveLength(1)
      expect(got[0]).toMatchObject({user: a.id, status: 'offline'})
      expect(got[0]!.custom).toBeUndefined()
      expect(fromA(b.c).map((e) => e.status)).toEqual(['busy', 'offline'])
      expect(stranger.c.events.filter((e) => e.ev === 'presence')).toEqual([])
      await expectCode(a.c.request('presence.set', {status: 'sleeping'}), 'invalid_request')
      await expectCode(a.c.request('presence.set', {status: 'away', custom: 'x'.repeat(141)}), 'invalid_request')
    })

    it('presence: contacts see offline, with lastSeen, some 5 s after the user’s last socket closes (not its first)', async () => {
      const {a, b} = await direct(cluster)
      const a2 = await otherDevice(cluster, a, 1)
      const offline = () => b.c.events.filter((e): e is PresenceEvent => e.ev === 'presence' && e.user === a.id && e.status === 'offline')

      await a.c.close() // a2 is still connected, on the other gateway
      await sleep(6500)
      expect(offline()).toEqual([])
      expect((await b.c.request('presence.get', {users: [a.id]})).presence).toEqual([{user: a.id, status: 'online', lastSeen: null}])

      const closedAt = Date.now()
      await a2.c.close()
      const event = (await b.c.waitForEvent((e) => e.ev === 'presence' && e.user === a.id && e.status === 'offline', 10_000)) as PresenceEvent
      const after = Date.now() - closedAt
      expect(after).toBeGreaterThanOrEqual(4500)
      expect(after).toBeLessThanOrEqual(8500)
      expect(event.lastSeen).not.toBeNull()
      const lastSeen = Date.parse(event.lastSeen!)
      expect(lastSeen).toBeGreaterThanOrEqual(closedAt - 1000)
      expect(lastSeen).toBeLessThanOrEqual(Date.now())
      expect((await b.c.request('presence.get', {users: [a.id]})).presence).toEqual([{user: a.id, status: 'offline', lastSeen: event.lastSeen}])
    })
  })

  describe.runIf(available[leg])('presence off', () => {
    let cluster: TestCluster

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1, config: {presence: 'off'}})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('fans out no presence events (presence.get and typing still work)', async () => {
      const {a, b, conversation} = await direct(cluster)
      await otherDevice(cluster, a, 0) // a connect: a broadcast in "contacts" mode
      expect(await a.c.request('presence.set', {status: 'away', custom: 'lunch'})).toEqual({status: 'away', custom: 'lunch'})
      await b.c.request('presence.set', {status: 'busy'})
      // Behaviour today: "off" stops the fan-out only; presence.get still answers and typing still flows.
      expect(await b.c.request('presence.get', {users: [a.id]})).toEqual({presence: [{user: a.id, status: 'away', custom: 'lunch', lastSeen: null}]})
      await a.c.request('typing', {conversation, state: true})
      await b.c.waitForEvent((e) => e.ev === 'typing' && e.conversation === conversation)
      await sleep(2500) // past the 2 s coalescing window
      expect([...a.c.events, ...b.c.events].filter((e) => e.ev === 'presence')).toEqual([])
    })
  })
})

/** Two users on different gateways and their direct conversation. */
async function direct(cluster: TestCluster): Promise<{a: Person; b: Person; conversation: string}> {
  const a = await person(cluster, 0)
  const b = await person(cluster, 1)
  const {conversation} = await a.c.request('conv.direct', {with: b.id})
  return {a, b, conversation}
}

async function waitForCount(count: () => number, n: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (count() < n && Date.now() < deadline) await sleep(25)
}

/** The error code a request fails with, or 'ok'. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'ok',
    (error: {error?: {code?: string}}) => error.error?.code ?? String(error),
  )
}
