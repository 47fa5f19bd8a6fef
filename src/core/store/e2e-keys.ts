import {MsgrError} from '../../errors.js'
import {E2E_KIND, type KeyBundle, type OpArgs, type PreKeyCount} from '../../protocol/frames.js'
import {deviceMismatch, type ExpectedDevice, mismatchError, parseEnvelope} from '../e2e/envelope.js'
import {checkOneTimePreKeys, parseIdentityKey, PREKEYS, verifyKyberPreKey, verifySignedPreKey} from '../e2e/keys.js'
import type {Sql, SqlTx} from '../ports.js'
import {assertMember} from './conversations.js'

// The end-to-end key directory (migration 6, docs/e2e.md): public keys per device, one-time prekeys
// consumed one per bundle fetch. A device is *current* while it is not revoked and its session is live;
// only current devices with keys appear in bundles and must be addressed by encrypted sends.

export interface DeviceOwner {
  userId: string
  deviceId: string
}

/** keys.upload: first upload registers the device; later ones add one-time prekeys or rotate keys. */
export async function uploadKeys(sql: Sql, who: DeviceOwner, args: OpArgs<'keys.upload'>): Promise<PreKeyCount> {
  checkOneTimePreKeys(args.preKeys)
  return sql.transaction(async (tx) => {
    const {rows} = await tx.query<{identity_key: string}>('SELECT identity_key FROM e2e_devices WHERE device_id = $1 FOR UPDATE', [who.deviceId])
    const stored = rows[0]?.identity_key
    const identityText = args.identityKey ?? stored
    if (identityText === undefined) {
      throw new MsgrError('invalid_request', 'the first keys.upload of a device needs identityKey, registrationId, signedPreKey and kyberPreKey')
    }
    const replacing = stored !== undefined && args.identityKey !== undefined && args.identityKey !== stored
    const identity = parseIdentityKey(identityText)
    if ((stored === undefined || replacing) && (!args.signedPreKey || !args.kyberPreKey)) {
      throw new MsgrError('invalid_request', 'a new identity key needs signedPreKey and kyberPreKey signed by it')
    }
    if (args.signedPreKey) verifySignedPreKey(identity, args.signedPreKey)
    if (args.kyberPreKey) verifyKyberPreKey(identity, args.kyberPreKey)

    if (stored === undefined) {
      const spk = args.signedPreKey!
      const kpk = args.kyberPreKey!
      await tx.query(
        `INSERT INTO e2e_devices (device_id, user_id, registration_id, identity_key, signed_prekey_id, signed_prekey, signed_prekey_sig,
                                  kyber_prekey_id, kyber_prekey, kyber_prekey_sig)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [who.deviceId, who.userId, args.registrationId, identityText, spk.id, spk.publicKey, spk.signature, kpk.id, kpk.publicKey, kpk.signature],
      )
    } else {
      // Prekeys of a replaced identity were signed by the old key: they go with it.
      if (replacing) await tx.query('DELETE FROM e2e_prekeys WHERE device_id = $1', [who.deviceId])
      if (args.identityKey !== undefined) {
        await tx.query('UPDATE e2e_devices SET identity_key = $2, registration_id = $3, updated_at = now() WHERE device_id = $1', [
          who.deviceId,
          args.identityKey,
          args.registrationId,
        ])
      }
      if (args.signedPreKey) {
        await tx.query('UPDATE e2e_devices SET signed_prekey_id = $2, signed_prekey = $3, signed_prekey_sig = $4, updated_at = now() WHERE device_id = $1', [
          who.deviceId,
          args.signedPreKey.id,
          args.signedPreKey.publicKey,
          args.signedPreKey.signature,
        ])
      }
      if (args.kyberPreKey) {
        await tx.query('UPDATE e2e_devices SET kyber_prekey_id = $2, kyber_prekey = $3, kyber_prekey_sig = $4, updated_at = now() WHERE device_id = $1', [
          who.deviceId,
          args.kyberPreKey.id,
          args.kyberPreKey.publicKey,
          args.kyberPreKey.signature,
        ])
      }
    }
    if (args.preKeys.length > 0) {
      const before = await countIn(tx, who.deviceId)
      if (before + args.preKeys.length > PREKEYS.maxStored) {
        throw new MsgrError('invalid_request', `a device may hold at most ${PREKEYS.maxStored} one-time prekeys; it has ${before}`)
      }
      await tx.query(
        `INSERT INTO e2e_prekeys (device_id, key_id, public_key)
         SELECT $1, k.id, k.public_key FROM unnest($2::int[], $3::text[]) AS k (id, public_key)
         ON CONFLICT (device_id, key_id) DO UPDATE SET public_key = EXCLUDED.public_key`,
        [who.deviceId, args.preKeys.map((k) => k.id), args.preKeys.map((k) => k.publicKey)],
      )
    }
    return preKeyCount(await countIn(tx, who.deviceId))
  })
}

/** keys.count: the caller's stock of one-time prekeys (0 before its first upload). */
export async function countPreKeys(sql: Sql, deviceId: string): Promise<PreKeyCount> {
  return preKeyCount(await countIn(sql, deviceId))
}

export function preKeyCount(preKeys: number): PreKeyCount {
  return {preKeys, low: preKeys < PREKEYS.lowThreshold, threshold: PREKEYS.lowThreshold}
}

/** keys.devices: a user's current devices with keys (no prekey is consumed). */
export async function listKeyDevices(sql: Sql, user: string): Promise<{user: string; devices: Array<{device: string; registrationId: number; identityKey: string}>}> {
  await assertUser(sql, user)
  const rows = await currentDeviceRows(sql, [user])
  return {user, devices: rows.map((r) => ({device: r.device_id, registrationId: r.registration_id, identityKey: r.identity_key}))}
}

export interface BundleFetch {
  user: string
  devices: KeyBundle[]
  /** Devices whose stock fell under the threshold with this fetch (each gets a keys.low event). */
  low: Array<{device: string; preKeys: number}>
}

/** keys.bundle: one bundle per current device of `user` (or of those named), each taking one one-time prekey. */
export async function fetchBundles(sql: Sql, user: string, only?: readonly string[]): Promise<BundleFetch> {
  await assertUser(sql, user)
  let rows = await currentDeviceRows(sql, [user])
  if (only) rows = rows.filter((r) => only.includes(r.device_id))
  const devices: KeyBundle[] = []
  const low: BundleFetch['low'] = []
  for (const row of rows) {
    const bundle: KeyBundle = {
      device: row.device_id,
      registrationId: row.registration_id,
      identityKey: row.identity_key,
      signedPreKey: {id: row.signed_prekey_id, publicKey: row.signed_prekey, signature: row.signed_prekey_sig},
      kyberPreKey: {id: row.kyber_prekey_id, publicKey: row.kyber_prekey, signature: row.kyber_prekey_sig},
    }
    // Atomic take: concurrent fetches never hand out the same one-time prekey.
    const taken = await sql.query<{key_id: number; public_key: string; left: number}>(
      `WITH taken AS (
         DELETE FROM e2e_prekeys WHERE (device_id, key_id) IN (
           SELECT device_id, key_id FROM e2e_prekeys WHERE device_id = $1 ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING key_id, public_key)
       SELECT key_id, public_key, (SELECT count(*)::int FROM e2e_prekeys WHERE device_id = $1) - 1 AS left FROM taken`,
      [row.device_id],
    )
    const key = taken.rows[0]
    if (key) bundle.preKey = {id: Number(key.key_id), publicKey: key.public_key}
    const left = key ? Math.max(0, Number(key.left)) : 0
    if (left < PREKEYS.lowThreshold) low.push({device: row.device_id, preKeys: left})
    devices.push(bundle)
  }
  return {user, devices, low}
}

/** Every device an encrypted send to `conversation` must address: members' current devices with keys, but the sender's. */
export async function expectedRecipients(sql: Sql, conversation: string, senderDevice: string): Promise<ExpectedDevice[]> {
  // Sorted here rather than in SQL: on the send path every millisecond of planning and sorting counts.
  const {rows} = await sql.query<{user_id: string; device_id: string; registration_id: number}>(
    `SELECT k.user_id, k.device_id, k.registration_id
       FROM members m
       JOIN e2e_devices k ON k.user_id = m.user_id
       ${CURRENT_JOIN}
      WHERE m.conversation_id = $1 AND k.device_id <> $2 AND ${CURRENT}`,
    [conversation, senderDevice],
  )
  return rows.map((r) => ({user: r.user_id, device: r.device_id, registrationId: r.registration_id})).sort((a, b) => compare(a.user, b.user) || compare(a.device, b.device))
}

// A device counts while it is not revoked and its session (refresh-token family) is neither revoked nor
// expired. sessions.device_id is unique, so the join adds no rows (and plans faster than EXISTS).
const CURRENT_JOIN = `JOIN devices d ON d.id = k.device_id JOIN sessions s ON s.device_id = k.device_id`
const CURRENT = `d.revoked_at IS NULL AND s.revoked_at IS NULL AND s.expires_at > now()`

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

interface DeviceRow {
  device_id: string
  user_id: string
  registration_id: number
  identity_key: string
  signed_prekey_id: number
  signed_prekey: string
  signed_prekey_sig: string
  kyber_prekey_id: number
  kyber_prekey: string
  kyber_prekey_sig: string
}

async function currentDeviceRows(sql: Sql, users: string[]): Promise<DeviceRow[]> {
  const {rows} = await sql.query<DeviceRow>(
    `SELECT k.device_id, k.user_id, k.registration_id, k.identity_key, k.signed_prekey_id, k.signed_prekey, k.signed_prekey_sig,
            k.kyber_prekey_id, k.kyber_prekey, k.kyber_prekey_sig
       FROM e2e_devices k ${CURRENT_JOIN}
      WHERE k.user_id = ANY($1::uuid[]) AND ${CURRENT}
      ORDER BY d.created_at, k.device_id`,
    [users],
  )
  return rows
}

async function countIn(sql: Sql | SqlTx, deviceId: string): Promise<number> {
  const {rows} = await sql.query<{n: number}>('SELECT count(*)::int AS n FROM e2e_prekeys WHERE device_id = $1', [deviceId])
  return Number(rows[0]?.n ?? 0)
}

async function assertUser(sql: Sql, user: string): Promise<void> {
  const {rows} = await sql.query('SELECT 1 FROM users WHERE id = $1', [user])
  if (rows.length === 0) throw new MsgrError('not_found', 'no such user')
}

/** A `send` of kind `encrypted`: a well-formed envelope addressing exactly the current devices (else device_mismatch). */
export async function assertEnvelopeAddressesDevices(sql: Sql, conversation: string, sender: DeviceOwner, body: unknown): Promise<void> {
  const envelope = parseEnvelope(body)
  const mismatch = deviceMismatch(envelope, await expectedRecipients(sql, conversation, sender.deviceId))
  if (!mismatch) return // one query on the send path: the worker checks membership before it stores anything
  await assertMember(sql, conversation, sender.userId) // the details name members' devices: members only
  throw mismatchError(mismatch)
}

/** `edit` of an encrypted message would store the new body where no device check or envelope applies: refused. */
export async function refuseEditOfEncrypted(sql: Sql, conversation: string, seq: number, user: string): Promise<void> {
  // Joined with members: a non-member learns nothing here (the worker answers it with forbidden).
  const {rows} = await sql.query<{kind: string}>(
    `SELECT m.kind FROM messages m JOIN members mem ON mem.conversation_id = m.conversation_id AND mem.user_id = $3
      WHERE m.conversation_id = $1 AND m.seq = $2`,
    [conversation, seq, user],
  )
  if (rows[0]?.kind === E2E_KIND) throw new MsgrError('invalid_request', 'an encrypted message cannot be edited: send a new encrypted message')
}
