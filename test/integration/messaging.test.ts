import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RequestError} from '../../src/client/client.js'
import {decodeJson, encodeJson, type NodeBatch, type SendOutcome} from '../../src/core/envelope.js'
import {partitionOf} from '../../src/core/ids.js'
import {availableLegs, LEGS, startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'
import {expectCode, liveSeqs, pair, strip, syncAll, waitMessage} from '../helpers/protocol.js'

// Walking-skeleton guarantees of protocol v1, through real WebSocket clients, on both adapter sets.

const available = await availableLegs()

describe.each(LEGS)('messaging on %s adapters', (leg) => {
  describe.runIf(available[leg])('1:1', () => {
    let cluster: TestCluster

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('delivers online to every device of both users and offline devices catch up with inbox + sync', async () => {
      const a1 = await cluster.login()
      const a2Pair = await cluster.login(a1.phone, 'a-second-device')
      expect(a2Pair.userId).toBe(a1.userId)
      expect(a2Pair.deviceId).not.toBe(a1.deviceId)
      const b1 = await cluster.login()

      const ca1 = await cluster.connect(a1, 0)
      const ca2 = await cluster.connect(a2Pair, 1) // other gateway
      const cb1 = await cluster.connect(b1, 1)

      const {conversation} = await ca1.request('conv.direct', {with: b1.userId})
      const again = await cb1.request('conv.direct', {with: a1.userId})
      expect(again.conversation).toBe(conversation)

      const sent = await ca1.request('send', {conversation, clientMsgId: 'm1', kind: 'text', body: 'hello b'})
      expect(sent.seq).toBe(1)
      const atB = await waitMessage(cb1, conversation, 1)
      const atA2 = await waitMessage(ca2, conversation, 1)
      expect(atB).toMatchObject({sender: a1.userId, senderDevice: a1.deviceId, body: 'hello b', kind: 'text', messageId: sent.messageId})
      expect(atA2.messageId).toBe(sent.messageId)

      const reply = await cb1.request('send', {conversation, clientMsgId: 'r1', kind: 'text', body: 'hi a', replyTo: 1})
      expect(reply.seq).toBe(2)
      expect((await waitMessage(ca1, conversation, 2)).replyTo).toBe(1)
      await waitMessage(ca2, conversation, 2)
      // The sending device has its ack; it is not echoed the message.
      expect(cb1.events.some((e) => e.ev === 'message' && e.seq === 2)).toBe(false)

      // a2 goes offline, misses two messages, comes back and catches up.
      const {token} = await ca2.request('inbox', {})
      await ca2.close()
      await cb1.request('send', {conversation, clientMsgId: 'r2', kind: 'text', body: 'while you were away'})
      await ca1.request('send', {conversation, clientMsgId: 'm2', kind: 'text', body: 'from my other device'})
      const back = await cluster.connect(a2Pair, 0)
      const changes = await back.request('inbox', {after: token})
      const entry = changes.conversations.find((c) => c.conversation === conversation)
      expect(entry?.lastSeq).toBe(4)
      const history = await back.request('sync', {conversation, after: 0})
      expect(history.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4])
      expect(history.hasMore).toBe(false)
      const atBHistory = await cb1.request('sync', {conversation, after: 0})
      expect(strip(history.messages)).toEqual(strip(atBHistory.messages))
      const page = await back.request('sync', {conversation, after: 1, limit: 2})
      expect(page.messages.map((m) => m.seq)).toEqual([2, 3])
      expect(page.hasMore).toBe(true)
    })

    it('stores one message for retries of the same clientMsgId', async () => {
      const {a, b, conversation} = await pair(cluster)
      const first = await a.request('send', {conversation, clientMsgId: 'same', kind: 'text', body: 'once'})
      const retry = await a.request('send', {conversation, clientMsgId: 'same', kind: 'text', body: 'once'})
      expect(retry).toMatchObject({seq: first.seq, messageId: first.messageId, duplicate: true})
      const concurrent = await Promise.all(
        Array.from({length: 5}, () => a.request('send', {conversation, clientMsgId: 'burst', kind: 'text', body: 'x'})),
      )
      expect(new Set(concurrent.map((r) => r.messageId)).size).toBe(1)
      const history = await b.request('sync', {conversation, after: 0})
      expect(history.messages.map((m) => m.clientMsgId)).toEqual(['same', 'burst'])
    })

    it('gives 20 concurrent senders one gapless order that every device sees identically', async () => {
      const a = await cluster.login()
      const b = await cluster.login()
      const pairs = [a, b]
      for (let i = 1; i < 10; i++) pairs.push(await cluster.login(a.phone, `a${i}`), await cluster.login(b.phone, `b${i}`))
      const clients = await Promise.all(pairs.map((p, i) => cluster.connect(p, i % 2)))
      const {conversation} = await clients[0]!.request('conv.direct', {with: b.userId})
      const perSender = 15
      const acks = await Promise.all(
        clients.map(async (c, i) => {
          const seqs: number[] = []
          for (let n = 0; n < perSender; n++) {
            const r = await c.request('send', {conversation, clientMsgId: `s${i}-${n}`, kind: 'text', body: `${i}:${n}`})
            seqs.push(r.seq)
          }
          return seqs
        }),
      )
      const total = clients.length * perSender
      expect(acks.flat().sort((x, y) => x - y)).toEqual(Array.from({length: total}, (_, i) => i + 1))
      // Live streams: each device sees every message except its own, in increasing seq order.
      for (const [i, c] of clients.entries()) {
        await waitFor(() => liveSeqs(c, conversation).length === total - perSender, 15_000)
        const live = liveSeqs(c, conversation)
        expect(live).toEqual([...live].sort((x, y) => x - y))
        expect(new Set([...live, ...acks[i]!]).size).toBe(total)
      }
      const histories = await Promise.all(clients.map((c) => syncAll(c, conversation)))
      for (const h of histories) expect(strip(h)).toEqual(strip(histories[0]!))
      expect(histories[0]!.map((m) => m.seq)).toEqual(Array.from({length: total}, (_, i) => i + 1))
    })

    it('refuses send, sync and receipt from a non-member', async () => {
      const {conversation} = await pair(cluster)
      const outsider = await cluster.connect(await cluster.login())
      await expectCode(outsider.request('send', {conversation, clientMsgId: 'x', kind: 'text', body: 'let me in'}), 'forbidden')
      await expectCode(outsider.request('sync', {conversation, after: 0}), 'forbidden')
      await expectCode(outsider.request('sync', {conversation: '00000000-0000-4000-8000-000000000000', after: 0}), 'not_found')
      await expectCode(outsider.request('receipt', {conversation, type: 'read', seq: 1}), 'forbidden')
      await expectCode(outsider.request('send', {conversation: '00000000-0000-4000-8000-000000000000', clientMsgId: 'x', kind: 'text', body: 'x'}), 'not_found')
      await expectCode(outsider.request('conv.direct', {with: '00000000-0000-4000-8000-000000000000'}), 'not_found')
    })

    it('moves read watermarks and tells the other member and the reader’s other devices', async () => {
      const {a, b, conversation, pairA} = await pair(cluster)
      const a2 = await cluster.connect(await cluster.login(pairA.phone, 'a2'), 1)
      for (let i = 0; i < 3; i++) await b.request('send', {conversation, clientMsgId: `r${i}`, kind: 'text', body: 'read me'})
      expect(await a.request('receipt', {conversation, type: 'read', seq: 2})).toEqual({seq: 2})
      const atB = await b.waitForEvent((e) => e.ev === 'receipt' && e.conversation === conversation)
      expect(atB).toMatchObject({user: pairA.userId, type: 'read', seq: 2})
      await a2.waitForEvent((e) => e.ev === 'receipt' && e.conversation === conversation && e.seq === 2)
      // Watermarks never go back and never pass the last seq.
      expect(await a.request('receipt', {conversation, type: 'read', seq: 1})).toEqual({seq: 2})
      expect(await a.request('receipt', {conversation, type: 'read', seq: 99})).toEqual({seq: 3})
      const inbox = await a.request('inbox', {})
      expect(inbox.conversations.find((c) => c.conversation === conversation)).toMatchObject({lastSeq: 3, readSeq: 3, deliveredSeq: 3, unread: 0})
      // Own messages never count as unread: sending moves the sender's watermarks.
      await a.request('send', {conversation, clientMsgId: 'mine', kind: 'text', body: 'my own'})
      const afterSend = await b.request('inbox', {})
      expect(afterSend.conversations.find((c) => c.conversation === conversation)).toMatchObject({lastSeq: 4, readSeq: 3, unread: 1})
      const mine = await a.request('inbox', {})
      expect(mine.conversations.find((c) => c.conversation === conversation)).toMatchObject({lastSeq: 4, readSeq: 4, unread: 0})
    })

    it('answers bad frames with coded errors and keeps the connection open', async () => {
      const c = await cluster.connect(await cluster.login())
      const errors = () => c.events.filter((e) => e.ev === 'error')
      c.ws.send('{not json')
      await waitFor(() => errors().length === 1)
      expect(errors()[0]).toMatchObject({error: {code: 'invalid_json'}})
      c.ws.send(JSON.stringify({op: 'ping'}))
      await waitFor(() => errors().length === 2)
      expect(errors()[1]).toMatchObject({error: {code: 'invalid_request'}})
      await expectCode(c.requestRaw(JSON.stringify({id: 'u', op: 'teleport'}), 'u'), 'unknown_op')
      await expectCode(c.requestRaw(JSON.stringify({id: 'v', op: 'send', conversation: 'nope'}), 'v'), 'invalid_request')
      c.ws.send(JSON.stringify({id: 'big', op: 'ping', pad: 'x'.repeat(70 * 1024)}))
      await waitFor(() => errors().length === 3)
      expect(errors()[2]).toMatchObject({error: {code: 'too_large'}})
      c.ws.send(Buffer.from([0xc3, 0x28]))
      c.ws.send(Buffer.from([0x7b, 0xff, 0x7d]), {binary: false})
      await waitFor(() => errors().length === 5)
      expect(await c.request('ping')).toEqual({})
    })

    it('answers a message the database refuses without holding back the rest of its batch', async () => {
      const {b, conversation, pairA} = await pair(cluster)
      const {bus} = cluster.adaptersOf(cluster.gateways[0]!)
      const outcomes: SendOutcome[] = []
      const unsubscribe = bus.subscribeNode('probe', (data) => outcomes.push(...(decodeJson<NodeBatch>(data).acks ?? [])))
      const partition = partitionOf(conversation, cluster.workers[0]!.config.partitions)
      // Straight onto the stream, past the gateway's checks: NUL cannot be stored in Postgres text/jsonb.
      const envelopes = ['ok-1', 'poison', 'ok-2', 'ok-3'].map((id) => ({
        v: 1,
        conv: conversation,
        sender: pairA.userId,
        senderDevice: pairA.deviceId,
        clientMsgId: id,
        kind: 'text',
        body: id === 'poison' ? 'nul \u0000 here' : id,
        gw: 'probe',
        at: Date.now(),
      }))
      await Promise.all(envelopes.map((e) => bus.publishIngest(partition, encodeJson(e))))
      await waitFor(() => outcomes.length === 4, 15_000)
      unsubscribe()
      const byId = new Map(outcomes.map((o) => [o.key.split('|')[2], o]))
      expect(byId.get('poison')).toMatchObject({ok: false, error: {code: 'invalid_request'}})
      for (const id of ['ok-1', 'ok-2', 'ok-3']) expect(byId.get(id)).toMatchObject({ok: true})
      const history = await syncAll(b, conversation)
      expect(history.map((m) => m.body).sort()).toEqual(['ok-1', 'ok-2', 'ok-3'])
      expect(history.map((m) => m.seq)).toEqual([1, 2, 3])
      // Through the gateway the same body is refused at the edge.
      await expectCode(b.request('send', {conversation, clientMsgId: 'edge', kind: 'text', body: 'nul \u0000'}), 'invalid_request')
    })

    it('refuses upgrades without a valid token', async () => {
      const {MsgrClient} = await import('../../src/client/client.js')
      await expectCode(MsgrClient.connect(cluster.gateways[0]!.url, 'not-a-token'), 'unauthenticated')
      const res = await fetch(`${cluster.gateways[0]!.url}/v1/auth/otp/verify`, {
        method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify({phone: '+15550000000', code: '000000', device: {name: 'x', platform: 'y'}}),
      })
      expect(res.status).toBe(401)
      expect(await res.json()).toMatchObject({error: {code: 'otp_invalid'}})
    })

    it('serves /healthz, /readyz and /metrics on every role', async () => {
      for (const node of [...cluster.gateways, ...cluster.workers]) {
        expect((await fetch(`${node.url}/healthz`)).status).toBe(200)
        const ready = await fetch(`${node.url}/readyz`)
        expect(ready.status).toBe(200)
        const metrics = await (await fetch(`${node.url}/metrics`)).text()
        expect(metrics).toContain('msgr_')
      }
      const stored = await (await fetch(`${cluster.workers[0]!.url}/metrics`)).text()
      expect(stored).toMatch(/msgr_messages_stored_total\{[^}]*\} [1-9]/)
    })

    it('loses no acknowledged message when the worker crashes mid-stream', async () => {
      const {a, b, conversation} = await pair(cluster)
      const acked = new Map<string, number>()
      let retries = 0
      let stop = false
      // Four senders keep sends in flight at every moment, so the crash always catches some.
      const senders = Array.from({length: 4}, async (_, s) => {
        for (let n = 0; !stop && n < 500; n++) {
          const clientMsgId = `crash-${s}-${n}`
          for (;;) {
            try {
              const r = await a.request('send', {conversation, clientMsgId, kind: 'text', body: `n${n}`})
              acked.set(clientMsgId, r.seq)
              break
            } catch (error) {
              if (!(error instanceof RequestError) || !['timeout', 'unavailable'].includes(error.code)) throw error
              retries++
            }
          }
        }
      })
      await waitFor(() => acked.size >= 40, 20_000)
      const before = acked.size
      await cluster.crashAndRestartWorker(0, 300)
      await waitFor(() => acked.size >= before + 40, 60_000)
      stop = true
      await Promise.all(senders)
      const history = await syncAll(b, conversation)
      expect(history.map((m) => m.seq)).toEqual(Array.from({length: history.length}, (_, i) => i + 1))
      const stored = new Map(history.map((m) => [m.clientMsgId, m.seq]))
      for (const [id, seq] of acked) expect(stored.get(id)).toBe(seq)
      expect(new Set(history.map((m) => m.clientMsgId)).size).toBe(history.length)
      expect(history.length).toBe(acked.size)
      console.info(`[${leg}] worker crash: ${acked.size} acked, ${retries} client retries, ${history.length} stored`)
    }, 120_000)
  })
})
