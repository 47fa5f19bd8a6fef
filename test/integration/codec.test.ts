import WebSocket from 'ws'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MsgrClient} from '../../src/client/client.js'
import {decodeMsgpack, encodeMsgpack} from '../../src/protocol/codec-msgpack.js'
import {SUBPROTOCOLS} from '../../src/protocol/codec-wire.js'
import type {MessageEvent} from '../../src/protocol/frames.js'
import {availableLegs, LEGS, startCluster, type TestCluster, type TestUser, waitFor} from '../helpers/cluster.js'

// MessagePack beside JSON (negotiated by subprotocol), through real sockets on both adapter sets: clients
// of either codec share conversations and each gets every message in its own encoding.

const available = await availableLegs()

describe.each(LEGS)('wire codecs on %s adapters', (leg) => {
  describe.runIf(available[leg])('json and msgpack clients together', () => {
    let cluster: TestCluster
    const clients: MsgrClient[] = []

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1})
    })
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => {})))
      await cluster?.stop()
    })

    const connect = async (user: TestUser, gateway: number, codec: 'json' | 'msgpack') => {
      const client = await MsgrClient.connect(cluster.gateways[gateway]!.url, user.accessToken, {codec})
      clients.push(client)
      await client.waitForEvent((e) => e.ev === 'hello')
      return client
    }

    it('negotiates msgr.v1+msgpack and sends binary frames; JSON stays text', async () => {
      const user = await cluster.login()
      const packed = await connect(user, 0, 'msgpack')
      const plain = await connect(user, 0, 'json')
      expect(packed.ws.protocol).toBe(SUBPROTOCOLS.msgpack)
      expect(plain.ws.protocol).toBe(SUBPROTOCOLS.json)
      const binary = new Promise<boolean>((resolve) => packed.ws.once('message', (_data, isBinary) => resolve(isBinary)))
      const text = new Promise<boolean>((resolve) => plain.ws.once('message', (_data, isBinary) => resolve(isBinary)))
      await Promise.all([packed.request('ping'), plain.request('ping')])
      expect(await binary).toBe(true)
      expect(await text).toBe(false)
    })

    it('a msgpack client and a json client in the same group, on both gateways, each get every message', async () => {
      const users = await Promise.all([0, 1, 2, 3].map(() => cluster.login()))
      const [a, b, c, d] = [
        await connect(users[0]!, 0, 'msgpack'),
        await connect(users[1]!, 1, 'json'),
        await connect(users[2]!, 0, 'json'),
        await connect(users[3]!, 1, 'msgpack'),
      ]
      const group = await a.request('group.create', {name: 'codecs', members: users.slice(1).map((u) => u.userId)})
      const bodies = ['plain text', {text: 'rich', mentions: [users[1]!.userId], n: 1.5, flag: true, none: null}, 'héllo 👋']
      const senders = [a, b, c, d]
      const sent: Array<{seq: number; sender: MsgrClient; body: unknown}> = []
      for (let i = 0; i < 12; i++) {
        const sender = senders[i % senders.length]!
        const body = bodies[i % bodies.length]!
        const reply = await sender.request('send', {conversation: group.conversation, clientMsgId: `m${i}`, kind: 'text', body})
        sent.push({seq: reply.seq, sender, body})
      }
      const live = (client: MsgrClient) =>
        client.events.filter((e): e is MessageEvent => e.ev === 'message' && e.conversation === group.conversation && e.kind === 'text')
      for (const client of senders) {
        const expected = sent.filter((s) => s.sender !== client)
        await waitFor(() => live(client).length >= expected.length, 15_000)
        expect(live(client).map((e) => [e.seq, e.body])).toEqual(expected.map((s) => [s.seq, s.body]))
      }
      // Stored once, read back the same through either codec.
      const viaJson = await b.request('sync', {conversation: group.conversation})
      const viaMsgpack = await a.request('sync', {conversation: group.conversation})
      expect(viaMsgpack.messages).toEqual(viaJson.messages)
    })

    it('bad MessagePack gets a coded error and the connection stays usable', async () => {
      const user = await cluster.login()
      const ws = new WebSocket(new URL('/v1/ws', cluster.gateways[0]!.url.replace(/^http/, 'ws')), SUBPROTOCOLS.msgpack, {
        headers: {authorization: `Bearer ${user.accessToken}`},
      })
      const frames: Array<Record<string, unknown>> = []
      ws.on('message', (data: Buffer, isBinary) => frames.push((isBinary ? decodeMsgpack(data) : {text: data.toString()}) as Record<string, unknown>))
      await new Promise((resolve, reject) => {
        ws.once('open', resolve)
        ws.once('error', reject)
      })
      try {
        await waitFor(() => frames.some((f) => f.ev === 'hello'))
        const errorsOf = () => frames.filter((f) => f.ev === 'error' || f.ok === false)
        ws.send(Buffer.from([0xc1, 0x00, 0xff])) // 0xc1 is never used in MessagePack
        ws.send(Buffer.concat([encodeMsgpack({id: 'x', op: 'ping'}), Buffer.from([0x01])])) // trailing bytes
        ws.send(encodeMsgpack({id: 'b1', op: 'send', conversation: 'not-a-uuid', clientMsgId: 'c', kind: 'text', body: 'x'}))
        ws.send(encodeMsgpack({id: 'b2', op: 'send', conversation: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b', clientMsgId: 'c', kind: 'text', body: {blob: Buffer.from('raw')}}))
        ws.send(JSON.stringify({id: 'b3', op: 'ping'})) // text on a msgpack connection
        await waitFor(() => errorsOf().length >= 5)
        const errors = errorsOf()
        expect(errors.every((f) => !('text' in f))).toBe(true) // every answer is MessagePack
        expect(errors.filter((f) => f.ev === 'error').map((f) => (f.error as {code: string}).code)).toEqual(['invalid_request', 'invalid_request', 'invalid_request'])
        expect(errors.filter((f) => f.re).map((f) => [f.re, (f.error as {code: string}).code])).toEqual([
          ['b1', 'invalid_request'],
          ['b2', 'invalid_request'],
        ])
        ws.send(encodeMsgpack({id: 'ok', op: 'ping'}))
        await waitFor(() => frames.some((f) => f.re === 'ok' && f.ok === true))
      } finally {
        ws.close()
      }
    })
  })
})

describe('permessage-deflate (--ws-compression)', () => {
  for (const wsCompression of [false, true]) {
    it(`is ${wsCompression ? 'negotiated when on' : 'not negotiated by default'}, and messages flow either way`, async () => {
      const cluster = await startCluster('embedded', wsCompression ? {config: {wsCompression}} : {})
      const clients: MsgrClient[] = []
      try {
        const [a, b] = await Promise.all([cluster.login(), cluster.login()])
        // The ws client offers permessage-deflate by default; the server decides.
        for (const user of [a, b]) {
          const client = await MsgrClient.connect(cluster.gateways[0]!.url, user.accessToken)
          clients.push(client)
          await client.waitForEvent((e) => e.ev === 'hello')
        }
        expect(clients[0]!.ws.extensions).toEqual(wsCompression ? expect.stringContaining('permessage-deflate') : '')
        const {conversation} = await clients[0]!.request('conv.direct', {with: b.userId})
        const long = 'compressible '.repeat(200) // over the 256-byte threshold
        await clients[0]!.request('send', {conversation, clientMsgId: 'z1', kind: 'text', body: long})
        const got = await clients[1]!.waitForEvent((e) => e.ev === 'message' && e.conversation === conversation)
        expect(got).toMatchObject({body: long})
      } finally {
        await Promise.all(clients.map((c) => c.close().catch(() => {})))
        await cluster.stop()
      }
    })
  }
})
