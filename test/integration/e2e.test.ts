import {randomUUID} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {IdentityKeyPair, KEMKeyPair, PrivateKey} from '@signalapp/libsignal-client'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {MsgrClient, RequestError} from '../../src/client/client.js'
import {E2eDevice, type E2eTransport} from '../../src/client/e2e/device.js'
import type {KeysLowEvent, MessageEvent, OpName} from '../../src/protocol/frames.js'
import {availableLegs, LEGS, startCluster, type TestCluster, type TestUser, waitFor} from '../helpers/cluster.js'
import {expectCode, isMessage} from '../helpers/protocol.js'

// End-to-end encryption (docs/e2e.md) through real servers and sockets: E2eDevice clients on libsignal
// exchange messages the server stores only as ciphertext; new devices are reached through the
// device_mismatch → refetch path; tampering is detected by the recipient; prekeys are consumed and
// replenished; safety numbers agree.

const available = await availableLegs()

interface Client {
  pair: TestUser
  c: MsgrClient
  e2e: E2eDevice
  dir: string
  /** Every op E2eDevice sent on this connection, and the error code of each refused one. */
  log: string[]
}

/** A transport that records what E2eDevice asks of the server (so tests see the mismatch → refetch path). */
function loggingTransport(c: MsgrClient, log: string[]): E2eTransport {
  return {
    request: ((op: OpName, args?: Record<string, unknown>) => {
      log.push(op)
      return c.request(op, args as never).catch((error: RequestError) => {
        log.push(error.code)
        throw error
      })
    }) as E2eTransport['request'],
    on: (event, listener) => c.on(event, listener),
    off: (event, listener) => c.off(event, listener),
  }
}

describe.each(LEGS)('end-to-end encryption on %s adapters', (leg) => {
  describe.runIf(available[leg])('e2e', () => {
    let cluster: TestCluster
    let root: string

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1})
      root = await mkdtemp(join(tmpdir(), 'msgr-e2e-'))
    })
    afterAll(async () => {
      await cluster?.stop()
      if (root) await rm(root, {recursive: true, force: true})
    })

    async function device(gateway: number, phone?: string): Promise<Client> {
      const pair = await cluster.login(phone, `e2e-${randomUUID().slice(0, 6)}`, gateway)
      const c = await cluster.connect(pair, gateway)
      const dir = join(root, pair.deviceId)
      const log: string[] = []
      const e2e = await E2eDevice.open({dir, client: loggingTransport(c, log), userId: pair.userId, deviceId: pair.deviceId})
      return {pair, c, e2e, dir, log}
    }

    const message = (c: MsgrClient, conversation: string, seq: number) => c.waitForEvent(isMessage(conversation, seq), 15_000)

    it('two users exchange encrypted messages; the stored rows, sync and search hold no plaintext', async () => {
      const a = await device(0)
      const b = await device(1)
      const {conversation} = await a.c.request('conv.direct', {with: b.pair.userId})
      const secret = `tangerine-${randomUUID().slice(0, 8)}`

      const sent = await a.e2e.send(conversation, [a.pair.userId, b.pair.userId], {text: `meet at the ${secret} gate`}, randomUUID())
      const live = await message(b.c, conversation, sent.seq)
      expect(live.kind).toBe('encrypted')
      expect(live.senderDevice).toBe(a.pair.deviceId)
      // The live event carries only the receiving device's own ciphertext.
      expect(Object.keys((live.body as {devices: object}).devices)).toEqual([b.pair.deviceId])
      expect(await b.e2e.decrypt(live)).toEqual({ok: true, text: `meet at the ${secret} gate`})

      const reply = await b.e2e.send(conversation, [a.pair.userId, b.pair.userId], {text: `ok, ${secret} it is`, replyTo: sent.seq}, randomUUID())
      expect(await a.e2e.decrypt(await message(a.c, conversation, reply.seq))).toEqual({ok: true, text: `ok, ${secret} it is`, replyTo: sent.seq})

      // A repeat delivery (at least once) and the sender's own message come from the local history.
      expect(await b.e2e.decrypt(live)).toMatchObject({ok: true})
      const history = await a.c.request('sync', {conversation, after: 0})
      expect(history.messages.map((m) => m.kind)).toEqual(['encrypted', 'encrypted'])
      expect(await a.e2e.decrypt(history.messages[0]!)).toMatchObject({ok: true, text: `meet at the ${secret} gate`})
      expect(JSON.stringify(history)).not.toContain(secret)

      // What the server stored: ciphertext only, in the messages table and anywhere else in the database.
      const sql = cluster.adaptersOf(cluster.gateways[0]!).sql
      const {rows} = await sql.query<{kind: string; body: string}>('SELECT kind, body::text AS body FROM messages WHERE conversation_id = $1 ORDER BY seq', [conversation])
      expect(rows).toHaveLength(2)
      for (const row of rows) {
        expect(row.kind).toBe('encrypted')
        expect(row.body).not.toContain(secret)
        expect(row.body).not.toContain('tangerine')
      }
      const anywhere = await sql.query<{n: number}>(
        `SELECT count(*)::int AS n FROM messages m WHERE m.body::text LIKE $1 OR coalesce(m.meta::text, '') LIKE $1`,
        [`%${secret}%`],
      )
      expect(anywhere.rows[0]!.n).toBe(0)
      expect((await b.c.request('search', {query: secret})).results).toEqual([])
      // Client-side search finds it on each device that read or sent it.
      expect(b.e2e.searchLocal(secret).map((r) => r.seq)).toEqual([sent.seq, reply.seq])
    })

    it('safety numbers match on both sides and change when a device is added', async () => {
      const a = await device(0)
      const b = await device(1)
      const fromA = await a.e2e.safetyNumber(b.pair.userId)
      expect(fromA).toMatch(/^\d{60}$/)
      expect(await b.e2e.safetyNumber(a.pair.userId)).toBe(fromA)
      const b2 = await device(0, b.pair.phone)
      const after = await a.e2e.safetyNumber(b.pair.userId)
      expect(after).not.toBe(fromA)
      expect(await b2.e2e.safetyNumber(a.pair.userId)).toBe(after)
      expect(await b.e2e.safetyNumber(a.pair.userId)).toBe(after)
    })

    it('a device that logs in later receives new messages, after the device_mismatch → refetch path', async () => {
      const a = await device(0)
      const b = await device(1)
      const {conversation} = await a.c.request('conv.direct', {with: b.pair.userId})
      const members = [a.pair.userId, b.pair.userId]
      const first = await a.e2e.send(conversation, members, {text: 'before the new phone'}, randomUUID())
      await b.e2e.decrypt(await message(b.c, conversation, first.seq))

      const b2 = await device(0, b.pair.phone)
      expect(b2.pair.userId).toBe(b.pair.userId)
      // A still encrypts to the devices it knows: the server refuses, naming the new one; A refetches and resends.
      a.log.length = 0
      const second = await a.e2e.send(conversation, members, {text: 'hello new phone'}, randomUUID())
      expect(a.log).toEqual(['send', 'device_mismatch', 'keys.bundle', 'send'])
      expect(await b2.e2e.decrypt(await message(b2.c, conversation, second.seq))).toEqual({ok: true, text: 'hello new phone'})
      expect(await b.e2e.decrypt(await message(b.c, conversation, second.seq))).toEqual({ok: true, text: 'hello new phone'})
      // Messages from before the device existed were not encrypted for it.
      const synced = await b2.c.request('sync', {conversation, after: 0})
      expect(await b2.e2e.decrypt(synced.messages[0]!)).toMatchObject({ok: false, code: 'e2e_no_ciphertext'})

      // The new device can answer; A (and B's first device, which learns of its sibling the same way) read it.
      const answer = await b2.e2e.send(conversation, members, {text: 'new phone here'}, randomUUID())
      const answerEvent = await message(a.c, conversation, answer.seq)
      expect(await a.e2e.decrypt(answerEvent)).toEqual({ok: true, text: 'new phone here'})
      expect(await b.e2e.decrypt(await message(b.c, conversation, answer.seq))).toEqual({ok: true, text: 'new phone here'})

      // State survives a restart: a fresh E2eDevice on A's directory keeps its sessions.
      a.e2e.close()
      const reopened = await E2eDevice.open({dir: a.dir, client: a.c, userId: a.pair.userId, deviceId: a.pair.deviceId})
      const third = await reopened.send(conversation, members, {text: 'after a restart'}, randomUUID())
      expect(await b2.e2e.decrypt(await message(b2.c, conversation, third.seq))).toEqual({ok: true, text: 'after a restart'})
      expect(await reopened.decrypt(answerEvent)).toEqual({ok: true, text: 'new phone here'}) // from the history file
    })

    it('a logged-out device disappears from bundles, and senders drop it after device_mismatch', async () => {
      const a = await device(0)
      const b = await device(1)
      const b2 = await device(0, b.pair.phone)
      const {conversation} = await a.c.request('conv.direct', {with: b.pair.userId})
      const members = [a.pair.userId, b.pair.userId]
      const first = await a.e2e.send(conversation, members, {text: 'to both phones'}, randomUUID())
      expect(await b2.e2e.decrypt(await message(b2.c, conversation, first.seq))).toMatchObject({ok: true})
      expect((await a.c.request('keys.devices', {user: b.pair.userId})).devices.map((d) => d.device).sort()).toEqual([b.pair.deviceId, b2.pair.deviceId].sort())

      await b.c.request('device.logout', {device: b2.pair.deviceId})
      expect((await a.c.request('keys.devices', {user: b.pair.userId})).devices.map((d) => d.device)).toEqual([b.pair.deviceId])
      expect((await a.c.request('keys.bundle', {user: b.pair.userId})).devices.map((d) => d.device)).toEqual([b.pair.deviceId])
      a.log.length = 0
      const second = await a.e2e.send(conversation, members, {text: 'only one phone now'}, randomUUID())
      expect(a.log).toEqual(['send', 'device_mismatch', 'send'])
      const stored = await a.c.request('sync', {conversation, after: first.seq})
      expect(stored.messages.map((m) => m.seq)).toEqual([second.seq])
      expect(await b.e2e.decrypt(await message(b.c, conversation, second.seq))).toEqual({ok: true, text: 'only one phone now'})
    })

    it('a device that re-registers with a new identity (lost its keys) is reached again through the stale-device path', async () => {
      const a = await device(0)
      const b = await device(1)
      const {conversation} = await a.c.request('conv.direct', {with: b.pair.userId})
      const members = [a.pair.userId, b.pair.userId]
      const first = await a.e2e.send(conversation, members, {text: 'before the wipe'}, randomUUID())
      await b.e2e.decrypt(await message(b.c, conversation, first.seq))
      const safetyBefore = await a.e2e.safetyNumber(b.pair.userId)

      // Same device and session, new key directory: open() finds its identity unknown to the server and re-registers.
      b.e2e.close()
      const wiped = await E2eDevice.open({dir: join(root, `${b.pair.deviceId}-wiped`), client: b.c, userId: b.pair.userId, deviceId: b.pair.deviceId})
      a.log.length = 0
      const second = await a.e2e.send(conversation, members, {text: 'after the wipe'}, randomUUID())
      expect(a.log).toEqual(['send', 'device_mismatch', 'keys.bundle', 'send'])
      expect(await wiped.decrypt(await message(b.c, conversation, second.seq))).toEqual({ok: true, text: 'after the wipe'})
      // What was sent to the old keys stays unreadable with the new ones.
      expect(await wiped.decrypt(await message(b.c, conversation, first.seq))).toMatchObject({ok: false, code: 'e2e_decrypt_failed'})
      // The wiped device's answer is accepted by A (a new identity on receive, as Signal does); the safety number changed.
      const answer = await wiped.send(conversation, members, {text: 'new keys here'}, randomUUID())
      expect(await a.e2e.decrypt(await message(a.c, conversation, answer.seq))).toEqual({ok: true, text: 'new keys here'})
      const safetyAfter = await a.e2e.safetyNumber(b.pair.userId)
      expect(safetyAfter).not.toBe(safetyBefore)
      expect(await wiped.safetyNumber(a.pair.userId)).toBe(safetyAfter)
    })

    it('tampered ciphertext is rejected by the recipient with a code, and the session survives it', async () => {
      const a = await device(0)
      const b = await device(1)
      const {conversation} = await a.c.request('conv.direct', {with: b.pair.userId})
      const members = [a.pair.userId, b.pair.userId]
      const hello = await a.e2e.send(conversation, members, {text: 'hello'}, randomUUID())
      await b.e2e.decrypt(await message(b.c, conversation, hello.seq))
      const back = await b.e2e.send(conversation, members, {text: 'hi'}, randomUUID())
      await a.e2e.decrypt(await message(a.c, conversation, back.seq))

      const sent = await a.e2e.send(conversation, members, {text: 'the real text'}, randomUUID())
      const event = await message(b.c, conversation, sent.seq)
      const own = (event.body as {devices: Record<string, {type: number; ciphertext: string; registrationId: number}>}).devices[b.pair.deviceId]!
      expect(own.type).toBe(2)
      const bytes = Buffer.from(own.ciphertext, 'base64')
      bytes[bytes.length - 12]! ^= 0x01
      const tampered: MessageEvent = {...event, body: {v: 1, devices: {[b.pair.deviceId]: {...own, ciphertext: bytes.toString('base64')}}}}
      expect(await b.e2e.decrypt(tampered)).toMatchObject({ok: false, code: 'e2e_decrypt_failed'})
      expect(await b.e2e.decrypt({...event, body: {v: 1, devices: {[b.pair.deviceId]: {...own, ciphertext: 'AAAA'}}}})).toMatchObject({ok: false, code: 'e2e_decrypt_failed'})
      expect(await b.e2e.decrypt({...event, body: 'plain'})).toMatchObject({ok: false, code: 'e2e_malformed'})
      expect(await b.e2e.decrypt(event)).toEqual({ok: true, text: 'the real text'})
    })

    it('the server refuses malformed envelopes and envelopes for the wrong devices, with coded errors', async () => {
      const a = await device(0)
      const b = await device(1)
      const {conversation} = await a.c.request('conv.direct', {with: b.pair.userId})
      const send = (body: unknown) => a.c.request('send', {conversation, clientMsgId: randomUUID(), kind: 'encrypted', body})
      await expectCode(send('plaintext'), 'invalid_request', 'a string body')
      await expectCode(send({v: 1, devices: {}, text: 'oops'}), 'invalid_request', 'plaintext beside the ciphertexts')
      await expectCode(send({v: 1, devices: {[b.pair.deviceId]: {type: 9, ciphertext: 'AAAA', registrationId: 1}}}), 'invalid_request', 'unknown type')
      await expectCode(send({v: 1, devices: {[b.pair.deviceId]: {type: 2, ciphertext: 'not base64!', registrationId: 1}}}), 'invalid_request', 'not base64')
      await expectCode(send({v: 1, devices: {[b.pair.deviceId]: {type: 2, ciphertext: 'AAAA'}}}), 'invalid_request', 'no registrationId')

      const stranger = randomUUID()
      const error = await send({v: 1, devices: {[stranger]: {type: 2, ciphertext: 'AAAA', registrationId: 1}}}).catch((e: unknown) => e)
      expect(error).toMatchObject({error: {code: 'device_mismatch', details: {missing: [{user: b.pair.userId, device: b.pair.deviceId}], extra: [stranger], stale: []}}})
      const {registrationId} = (await a.c.request('keys.devices', {user: b.pair.userId})).devices[0]!
      const stale = await send({v: 1, devices: {[b.pair.deviceId]: {type: 2, ciphertext: 'AAAA', registrationId: (registrationId % 16380) + 1}}}).catch((e: unknown) => e)
      expect(stale).toMatchObject({error: {code: 'device_mismatch', details: {missing: [], extra: [], stale: [{user: b.pair.userId, device: b.pair.deviceId}]}}})
      // A non-member learns nothing about the members' devices.
      const outsider = await device(1)
      await expectCode(
        outsider.c.request('send', {conversation, clientMsgId: randomUUID(), kind: 'encrypted', body: {v: 1, devices: {}}}),
        'forbidden',
        'non-member',
      )
      // Nothing was stored.
      expect((await a.c.request('sync', {conversation, after: 0})).messages).toEqual([])
      // An encrypted message cannot be forwarded by the server (it could not re-encrypt it).
      const sent = await a.e2e.send(conversation, [a.pair.userId, b.pair.userId], {text: 'x'}, randomUUID())
      const {conversation: own} = await a.c.request('conv.direct', {with: a.pair.userId})
      await expectCode(a.c.request('forward', {conversation: own, clientMsgId: randomUUID(), from: {conversation, seq: sent.seq}}), 'invalid_request')
      // Nor edited: the new body would be stored outside any envelope.
      await expectCode(a.c.request('edit', {conversation, seq: sent.seq, body: 'plaintext edit'}), 'invalid_request')
      expect((await a.c.request('sync', {conversation, after: 0})).messages.map((m) => m.edited)).toEqual([undefined])
    })

    it('one-time prekeys are consumed one per bundle, never twice, and a device running low is warned', async () => {
      const owner = await cluster.login(undefined, 'raw-keys', 0)
      const oc = await cluster.connect(owner, 0)
      const fetcher = await device(1)
      const identity = IdentityKeyPair.generate()
      const b64 = (x: Uint8Array) => Buffer.from(x).toString('base64')
      const ec = PrivateKey.generate().getPublicKey().serialize()
      const kem = KEMKeyPair.generate().getPublicKey().serialize()
      const base = {
        identityKey: b64(identity.publicKey.serialize()),
        registrationId: 77,
        signedPreKey: {id: 1, publicKey: b64(ec), signature: b64(identity.privateKey.sign(ec))},
        kyberPreKey: {id: 1, publicKey: b64(kem), signature: b64(identity.privateKey.sign(kem))},
      }
      // Signatures are verified on upload.
      const forged = {...base, signedPreKey: {...base.signedPreKey, signature: b64(IdentityKeyPair.generate().privateKey.sign(ec))}}
      await expectCode(oc.request('keys.upload', forged), 'invalid_request', 'forged signed prekey')
      await expectCode(oc.request('keys.upload', {preKeys: []}), 'invalid_request', 'first upload without identity')
      const preKeys = Array.from({length: 25}, (_, i) => ({id: i + 1, publicKey: b64(PrivateKey.generate().getPublicKey().serialize())}))
      expect(await oc.request('keys.upload', {...base, preKeys})).toEqual({preKeys: 25, low: false, threshold: 20})

      // Parallel fetches each take a different key.
      const bundles = await Promise.all(Array.from({length: 5}, () => fetcher.c.request('keys.bundle', {user: owner.userId})))
      const ids = bundles.map((b) => b.devices[0]!.preKey!.id)
      expect(new Set(ids).size).toBe(5)
      expect(bundles[0]!.devices[0]).toMatchObject({device: owner.deviceId, registrationId: 77, identityKey: base.identityKey, signedPreKey: base.signedPreKey})
      expect(await oc.request('keys.count', {})).toEqual({preKeys: 20, low: false, threshold: 20})
      expect(oc.events.some((e) => e.ev === 'keys.low')).toBe(false)

      await fetcher.c.request('keys.bundle', {user: owner.userId})
      const low = await oc.waitForEvent((e): e is KeysLowEvent => e.ev === 'keys.low', 10_000)
      expect(low).toEqual({ev: 'keys.low', device: owner.deviceId, preKeys: 19, threshold: 20})
      expect(await oc.request('keys.count', {})).toEqual({preKeys: 19, low: true, threshold: 20})

      for (let i = 0; i < 19; i++) await fetcher.c.request('keys.bundle', {user: owner.userId})
      const dry = await fetcher.c.request('keys.bundle', {user: owner.userId})
      expect(dry.devices[0]!.preKey).toBeUndefined() // sessions still start, on the last-resort keys
      expect((await oc.request('keys.count', {})).preKeys).toBe(0)

      // An E2eDevice tops its stock up when it hears keys.low.
      const target = await device(0)
      expect((await target.c.request('keys.count', {})).preKeys).toBe(100)
      for (let i = 0; i < 81; i++) await fetcher.c.request('keys.bundle', {user: target.pair.userId})
      await waitFor(async () => (await target.c.request('keys.count', {})).preKeys >= 100, 15_000, 200)
      await expectCode(fetcher.c.request('keys.bundle', {user: randomUUID()}), 'not_found')
    })

    it('group messages use sender keys: distributed once per device over 1:1 sessions, rotated when a member leaves', async () => {
      const a = await device(0)
      const b = await device(1)
      const c = await device(0)
      const {conversation} = await a.c.request('group.create', {name: 'secret club', members: [b.pair.userId, c.pair.userId]})
      let members = [a.pair.userId, b.pair.userId, c.pair.userId]
      type Body = {devices: Record<string, {type: number}>; group?: {ciphertext: string}}
      const types = (e: MessageEvent) => Object.values((e.body as Body).devices).map((d) => d.type)

      // First message: the text once under A's sender key; each device gets the sender key over its 1:1 session.
      const first = await a.e2e.send(conversation, members, {text: 'group secret'}, randomUUID())
      for (const r of [b, c]) {
        const event = await message(r.c, conversation, first.seq)
        expect((event.body as Body).group?.ciphertext).toBeTruthy()
        expect(types(event)).toEqual([3])
        expect(await r.e2e.decrypt(event)).toEqual({ok: true, text: 'group secret'})
      }
      // Then only pointers (type 7) to the one group ciphertext.
      const second = await a.e2e.send(conversation, members, {text: 'second secret'}, randomUUID())
      const secondAtB = await message(b.c, conversation, second.seq)
      expect(types(secondAtB)).toEqual([7])
      expect(await b.e2e.decrypt(secondAtB)).toEqual({ok: true, text: 'second secret'})
      expect(await c.e2e.decrypt(await message(c.c, conversation, second.seq))).toEqual({ok: true, text: 'second secret'})
      const stored = await cluster.adaptersOf(cluster.gateways[0]!).sql.query<{body: string}>(`SELECT body::text AS body FROM messages WHERE conversation_id = $1 AND kind = 'encrypted'`, [conversation])
      expect(stored.rows).toHaveLength(2)
      for (const row of stored.rows) expect(row.body).not.toContain('secret')

      // A tampered group ciphertext is refused (sender keys sign every message).
      const raw = Buffer.from((secondAtB.body as Body).group!.ciphertext, 'base64')
      raw[raw.length - 70]! ^= 0x01
      const forged = {...secondAtB, seq: second.seq + 1000, body: {...(secondAtB.body as Body), group: {ciphertext: raw.toString('base64')}}}
      expect(await b.e2e.decrypt(forged)).toMatchObject({ok: false, code: 'e2e_decrypt_failed'})

      // C answers with its own sender key.
      const reply = await c.e2e.send(conversation, members, {text: 'group reply'}, randomUUID())
      for (const r of [a, b]) expect(await r.e2e.decrypt(await message(r.c, conversation, reply.seq))).toEqual({ok: true, text: 'group reply'})

      // A new member's device gets the sender key with its first message; the others keep pointers.
      const d = await device(1)
      await a.c.request('group.add', {conversation, members: [d.pair.userId]})
      members = [...members, d.pair.userId]
      const welcome = await a.e2e.send(conversation, members, {text: 'welcome'}, randomUUID())
      const welcomeAtD = await message(d.c, conversation, welcome.seq)
      expect(types(welcomeAtD)).toEqual([3])
      expect(await d.e2e.decrypt(welcomeAtD)).toEqual({ok: true, text: 'welcome'})
      expect(types(await message(b.c, conversation, welcome.seq))).toEqual([7])

      // C is removed: A's next message uses a new sender key, distributed again to the members left.
      await a.c.request('group.remove', {conversation, members: [c.pair.userId]})
      members = [a.pair.userId, b.pair.userId, d.pair.userId]
      const after = await a.e2e.send(conversation, members, {text: 'without c'}, randomUUID())
      for (const r of [b, d]) {
        const event = await message(r.c, conversation, after.seq)
        expect(types(event)).not.toEqual([7]) // the new sender key travels 1:1 (type 2 or 3)
        expect(await r.e2e.decrypt(event)).toEqual({ok: true, text: 'without c'})
      }

      // A member's new device: device_mismatch, then it gets the sender key; the others keep pointers.
      const b2 = await device(0, b.pair.phone)
      a.log.length = 0
      const later = await a.e2e.send(conversation, members, {text: 'hello b2'}, randomUUID())
      expect(a.log).toEqual(['send', 'device_mismatch', 'keys.bundle', 'send'])
      expect(await b2.e2e.decrypt(await message(b2.c, conversation, later.seq))).toEqual({ok: true, text: 'hello b2'})
      const laterAtB = await message(b.c, conversation, later.seq)
      expect(types(laterAtB)).toEqual([7])
      expect(await b.e2e.decrypt(laterAtB)).toEqual({ok: true, text: 'hello b2'})
    })
  })
})
