import {createCipheriv, createDecipheriv, randomBytes} from 'node:crypto'

import {
  CiphertextMessageType,
  KEMPublicKey,
  PreKeyBundle,
  PreKeySignalMessage,
  processPreKeyBundle,
  type ProtocolAddress,
  processSenderKeyDistributionMessage,
  PublicKey,
  groupDecrypt,
  groupEncrypt,
  SenderKeyDistributionMessage,
  signalDecrypt,
  signalDecryptPreKey,
  signalEncrypt,
  SignalMessage,
} from '@signalapp/libsignal-client'

import {createPgliteSql} from '../src/adapters/pglite/sql.js'
import {address} from '../src/client/e2e/device.js'
import {identityPublic, lastResort, newPreKeys, newState, registration} from '../src/client/e2e/keygen.js'
import {b64, bytes, type E2eState} from '../src/client/e2e/state.js'
import {createStores, type SignalStores} from '../src/client/e2e/stores.js'
import {envelopeProblem} from '../src/core/e2e/envelope.js'
import {newId} from '../src/core/ids.js'
import type {Sql} from '../src/core/ports.js'
import type {OpArgs} from '../src/protocol/frames.js'
import {listMembers} from '../src/core/store/conversations.js'
import {assertEnvelopeAddressesDevices, expectedRecipients, fetchBundles, uploadKeys} from '../src/core/store/e2e-keys.js'
import {migrate} from '../src/core/store/migrate.js'
import {type Comparison, compareSync, fmtInt, fmtRatio, round, runBounded, type RunResult} from './measure.js'
import type {Table} from './table.js'

// End-to-end encryption's hot paths (docs/e2e.md). Client: one Signal message encrypted and decrypted
// over an established session (Double Ratchet + PQ ratchet + HMAC), against a bare AES-256-GCM of the
// same plaintext. Server: the shape check of a 20-device envelope against JSON.parse of it, and the
// gateway's per-send device check (parse + membership + the members' current devices, embedded
// PGlite) against the one indexed query listMembers.

export interface E2eBenchResult {
  encrypt: {baseline: RunResult; subject: RunResult; ratio: number}
  decrypt: {baseline: RunResult; subject: RunResult; ratio: number}
  groupEncrypt: {baseline: RunResult; subject: RunResult; ratio: number}
  groupDecrypt: {baseline: RunResult; subject: RunResult; ratio: number}
  envelope: Comparison & {devices: number; bytes: number}
  deviceCheck: {baseline: RunResult; subject: RunResult; ratio: number; members: number; devicesPerMember: number}
}

const TEXT = 'hey, are we still on for lunch tomorrow? the usual place'

export async function benchE2e(options: {ms?: number; members?: number; devicesPerMember?: number} = {}): Promise<{result: E2eBenchResult; tables: Table[]}> {
  const ms = options.ms ?? 2000
  const {encrypt, decrypt, groupEncrypt, groupDecrypt} = await clientRuns(ms)
  const body = envelopeOf(20)
  const json = JSON.stringify(body)
  if (envelopeProblem(body)) throw new Error(`bench envelope refused: ${envelopeProblem(body)}`) // measure the accepting path
  const envelope = {...compareSync('e2e/envelope', () => JSON.parse(json), () => envelopeProblem(JSON.parse(json)) ?? true), devices: 20, bytes: json.length}
  const deviceCheck = await serverRun(ms, options.members ?? 10, options.devicesPerMember ?? 2)
  const result: E2eBenchResult = {encrypt, decrypt, groupEncrypt, groupDecrypt, envelope, deviceCheck}
  const row = (name: string, base: string, r: {baseline: RunResult; subject: RunResult; ratio: number}) => [
    name,
    base,
    fmtInt(r.baseline.perSecond),
    fmtInt(r.subject.perSecond),
    fmtRatio(r.ratio),
    `${r.subject.latency?.p50 ?? '-'} / ${r.subject.latency?.p99 ?? '-'} ms`,
  ]
  const table: Table = {
    title: 'e2e — Signal messages and the server-side envelope checks, against bare baselines',
    columns: ['path', 'baseline', 'baseline ops/s', 'msgr ops/s', 'ratio', 'msgr p50 / p99'],
    rows: [
      row('encrypt 1 message (session)', 'AES-256-GCM', encrypt),
      row('decrypt 1 message (session)', 'AES-256-GCM', decrypt),
      row('group encrypt (sender key)', 'AES-256-GCM', groupEncrypt),
      row('group decrypt (sender key)', 'AES-256-GCM', groupDecrypt),
      [`envelope shape, ${envelope.devices} devices (${fmtInt(envelope.bytes)} B)`, 'JSON.parse', fmtInt(envelope.baseline), fmtInt(envelope.subject), fmtRatio(envelope.ratio), '-'],
      row(`send device check, ${deviceCheck.members}×${deviceCheck.devicesPerMember} devices (PGlite)`, 'listMembers', deviceCheck),
    ],
    notes: [
      'ratio = msgr ops/s ÷ baseline ops/s, same run. Encrypt/decrypt: libsignal with JSON-file-backed stores held in memory (E2eDevice saves to disk once per operation on top).',
      'A direct message is encrypted once per recipient device; a group message once (sender key), plus once per device that has not got the sender key yet.',
    ],
  }
  return {result, tables: [table]}
}

async function clientRuns(ms: number) {
  const [ua, da, ub, db] = [newId(), newId(), newId(), newId()]
  const a = newState(ua, da, Date.now())
  const b = newState(ub, db, Date.now())
  const sa = createStores(a)
  const sb = createStores(b)
  const [addrA, addrB] = [address(ua, da), address(ub, db)]
  await startSession(sa, addrA, b, addrB)
  // One round trip so both sides are past the PreKey message.
  const first = await signalEncrypt(utf8(TEXT), addrB, addrA, sa.session, sa.identity)
  await signalDecryptPreKey(PreKeySignalMessage.deserialize(first.serialize()), addrA, addrB, sb.session, sb.identity, sb.preKey, sb.signedPreKey, sb.kyberPreKey)
  const back = await signalEncrypt(utf8(TEXT), addrA, addrB, sb.session, sb.identity)
  await signalDecrypt(SignalMessage.deserialize(back.serialize()), addrB, addrA, sa.session, sa.identity)

  const key = randomBytes(32)
  const plain = utf8(JSON.stringify({v: 1, conversation: newId(), text: TEXT}))
  const aes = () => {
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', key, iv)
    return Buffer.concat([iv, c.update(plain), c.final(), c.getAuthTag()]).toString('base64')
  }
  const bounds = {maxCount: 1_000_000, maxMs: ms}
  const encBase = await runBounded('e2e/aes-gcm encrypt', bounds, () => (aes(), 1), {latencyPer: 'message'})
  const sealed: string[] = []
  const encrypt = await runBounded(
    'e2e/signal encrypt',
    bounds,
    async () => {
      const m = await signalEncrypt(plain, addrB, addrA, sa.session, sa.identity)
      if (m.type() !== CiphertextMessageType.Whisper) throw new Error('expected a SignalMessage')
      sealed.push(b64(m.serialize()))
      return 1
    },
    {latencyPer: 'message'},
  )
  const aesSealed = Array.from({length: sealed.length}, aes)
  let i = 0
  const decBase = await runBounded(
    'e2e/aes-gcm decrypt',
    {maxCount: aesSealed.length, maxMs: ms},
    () => {
      const raw = Buffer.from(aesSealed[i++]!, 'base64')
      const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12))
      d.setAuthTag(raw.subarray(raw.length - 16))
      d.update(raw.subarray(12, raw.length - 16))
      d.final()
      return 1
    },
    {latencyPer: 'message'},
  )
  let j = 0
  const decrypt = await runBounded(
    'e2e/signal decrypt',
    {maxCount: sealed.length, maxMs: ms},
    async () => {
      await signalDecrypt(SignalMessage.deserialize(bytes(sealed[j++]!)), addrA, addrB, sb.session, sb.identity)
      return 1
    },
    {latencyPer: 'message'},
  )
  // Groups: the sender key (one chain per sender and distribution), as E2eDevice uses it for more than two members.
  const distributionId = newId()
  const skdm = await SenderKeyDistributionMessage.create(addrA, distributionId, sa.senderKey)
  await processSenderKeyDistributionMessage(addrA, SenderKeyDistributionMessage.deserialize(skdm.serialize()), sb.senderKey)
  const groupSealed: string[] = []
  const groupEnc = await runBounded(
    'e2e/group encrypt',
    bounds,
    async () => {
      groupSealed.push(b64((await groupEncrypt(addrA, distributionId, sa.senderKey, plain)).serialize()))
      return 1
    },
    {latencyPer: 'message'},
  )
  let k = 0
  const groupDec = await runBounded(
    'e2e/group decrypt',
    {maxCount: groupSealed.length, maxMs: ms},
    async () => {
      await groupDecrypt(addrA, sb.senderKey, bytes(groupSealed[k++]!))
      return 1
    },
    {latencyPer: 'message'},
  )
  return {
    encrypt: {baseline: encBase, subject: encrypt, ratio: round(encrypt.perSecond / encBase.perSecond, 4)},
    decrypt: {baseline: decBase, subject: decrypt, ratio: round(decrypt.perSecond / decBase.perSecond, 4)},
    groupEncrypt: {baseline: encBase, subject: groupEnc, ratio: round(groupEnc.perSecond / encBase.perSecond, 4)},
    groupDecrypt: {baseline: decBase, subject: groupDec, ratio: round(groupDec.perSecond / decBase.perSecond, 4)},
  }
}

/** What E2eDevice does with a keys.bundle answer, from `b`'s state directly (no server). */
async function startSession(sa: SignalStores, addrA: ProtocolAddress, b: E2eState, addrB: ProtocolAddress) {
  const [pre] = newPreKeys(b, 1)
  const {signedPreKey, kyberPreKey} = lastResort(b)
  const identityKey = identityPublic(b)
  const bundle = PreKeyBundle.new(
    b.registrationId,
    1,
    pre!.id,
    PublicKey.deserialize(bytes(pre!.publicKey)),
    signedPreKey.id,
    PublicKey.deserialize(bytes(signedPreKey.publicKey)),
    bytes(signedPreKey.signature),
    PublicKey.deserialize(bytes(identityKey)),
    kyberPreKey.id,
    KEMPublicKey.deserialize(bytes(kyberPreKey.publicKey)),
    bytes(kyberPreKey.signature),
  )
  await processPreKeyBundle(bundle, addrB, addrA, sa.session, sa.identity)
}

function envelopeOf(devices: number) {
  const out: {v: 1; devices: Record<string, {type: 2; ciphertext: string; registrationId: number}>} = {v: 1, devices: {}}
  for (let i = 0; i < devices; i++) out.devices[newId()] = {type: 2, ciphertext: randomBytes(140).toString('base64'), registrationId: 1 + i}
  return out
}

/** A group of `members` users with `perMember` keyed devices each, on in-memory PGlite. */
async function serverRun(ms: number, members: number, perMember: number) {
  const sql = await createPgliteSql()
  try {
    await migrate(sql)
    const conversation = newId()
    await sql.query(`INSERT INTO conversations (id, kind, title) VALUES ($1, 'group', 'bench')`, [conversation])
    const devices: Array<{user: string; device: string}> = []
    for (let m = 0; m < members; m++) {
      const user = newId()
      await sql.query('INSERT INTO users (id, phone) VALUES ($1, $2)', [user, `+1555${String(m).padStart(7, '0')}`])
      await sql.query('INSERT INTO members (conversation_id, user_id) VALUES ($1, $2)', [conversation, user])
      for (let d = 0; d < perMember; d++) devices.push({user, device: await keyedDevice(sql, user)})
    }
    const sender = devices[0]!
    const recipients = await expectedRecipients(sql, conversation, sender.device)
    const body = {v: 1, devices: Object.fromEntries(recipients.map((d) => [d.device, {type: 2, ciphertext: randomBytes(140).toString('base64'), registrationId: d.registrationId}]))}
    await assertEnvelopeAddressesDevices(sql, conversation, {userId: sender.user, deviceId: sender.device}, body) // must pass, or we measure the error path
    if ((await fetchBundles(sql, sender.user)).devices.length !== perMember) throw new Error('bench fixture: bundles missing')
    const bounds = {maxCount: 1_000_000, maxMs: ms}
    const baseline = await runBounded('e2e/listMembers', bounds, async () => ((await listMembers(sql, conversation)).length > 0 ? 1 : 0), {latencyPer: 'check'})
    const subject = await runBounded(
      'e2e/device check',
      bounds,
      async () => {
        await assertEnvelopeAddressesDevices(sql, conversation, {userId: sender.user, deviceId: sender.device}, body)
        return 1
      },
      {latencyPer: 'check'},
    )
    return {baseline, subject, ratio: round(subject.perSecond / baseline.perSecond, 4), members, devicesPerMember: perMember}
  } finally {
    await sql.close()
  }
}

async function keyedDevice(sql: Sql, user: string): Promise<string> {
  const device = newId()
  await sql.query(`INSERT INTO devices (id, user_id, name, platform) VALUES ($1, $2, 'bench', 'bench')`, [device, user])
  await sql.query(
    `INSERT INTO sessions (id, device_id, user_id, refresh_hash, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 day')`,
    [newId(), device, user, randomBytes(32)],
  )
  const state = newState(user, device, Date.now())
  await uploadKeys(sql, {userId: user, deviceId: device}, registration(state, newPreKeys(state, 5)) as OpArgs<'keys.upload'>)
  return device
}

function utf8(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text) as Uint8Array<ArrayBuffer>
}
