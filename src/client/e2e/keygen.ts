import {randomInt} from 'node:crypto'

import {IdentityKeyPair, KEMKeyPair, KyberPreKeyRecord, PreKeyRecord, PrivateKey, SignedPreKeyRecord} from '@signalapp/libsignal-client'

import type {OpInput} from '../client.js'
import {b64, bytes, type E2eState} from './state.js'

// Key material of one device: created once, one-time prekeys added in batches, last-resort keys rotated.

/** One-time prekeys made per batch (the server keeps up to 1,000 per device). */
export const PREKEY_BATCH = 100
/** The signed and Kyber last-resort prekeys are replaced after this long. */
export const ROTATE_AFTER_MS = 7 * 24 * 3600 * 1000
const MAX_KEY_ID = 0xffffff

export function newState(userId: string, deviceId: string, now: number): E2eState {
  const identity = IdentityKeyPair.generate()
  const state: E2eState = {
    v: 1,
    userId,
    deviceId,
    identity: b64(identity.serialize()),
    registrationId: randomInt(1, 16381),
    nextPreKeyId: randomInt(1, 2 ** 23),
    preKeys: {},
    signedPreKeys: {},
    kyberPreKeys: {},
    current: {signedPreKey: 0, kyberPreKey: 0, createdAt: 0},
    sessions: {},
    identities: {},
    devices: {},
    senderKeys: {},
    groups: {},
  }
  rotateLastResort(state, now)
  return state
}

/** New signed and Kyber last-resort prekeys (the old ones stay, for messages already under way). */
export function rotateLastResort(state: E2eState, now: number): void {
  const identity = IdentityKeyPair.deserialize(bytes(state.identity))
  const id = (state.current.signedPreKey % MAX_KEY_ID) + 1
  const ec = PrivateKey.generate()
  const ecSignature = identity.privateKey.sign(ec.getPublicKey().serialize())
  state.signedPreKeys[id] = b64(SignedPreKeyRecord.new(id, now, ec.getPublicKey(), ec, ecSignature).serialize())
  const kem = KEMKeyPair.generate()
  const kemSignature = identity.privateKey.sign(kem.getPublicKey().serialize())
  state.kyberPreKeys[id] = b64(KyberPreKeyRecord.new(id, now, kem, kemSignature).serialize())
  state.current = {signedPreKey: id, kyberPreKey: id, createdAt: now}
}

/** Makes `count` one-time prekeys, stores their private halves, returns the public ones to upload. */
export function newPreKeys(state: E2eState, count: number): Array<{id: number; publicKey: string}> {
  const out: Array<{id: number; publicKey: string}> = []
  for (let i = 0; i < count; i++) {
    const id = state.nextPreKeyId
    state.nextPreKeyId = (id % MAX_KEY_ID) + 1
    const key = PrivateKey.generate()
    state.preKeys[id] = b64(PreKeyRecord.new(id, key.getPublicKey(), key).serialize())
    out.push({id, publicKey: b64(key.getPublicKey().serialize())})
  }
  return out
}

/** The keys.upload arguments that (re)register this device: identity, both last-resort keys, and `preKeys`. */
export function registration(state: E2eState, preKeys: Array<{id: number; publicKey: string}>): OpInput<'keys.upload'> {
  return {identityKey: identityPublic(state), registrationId: state.registrationId, ...lastResort(state), preKeys}
}

export interface SignedKey {
  id: number
  publicKey: string
  signature: string
}

export function lastResort(state: E2eState): {signedPreKey: SignedKey; kyberPreKey: SignedKey} {
  const spk = SignedPreKeyRecord.deserialize(bytes(state.signedPreKeys[state.current.signedPreKey]!))
  const kpk = KyberPreKeyRecord.deserialize(bytes(state.kyberPreKeys[state.current.kyberPreKey]!))
  return {
    signedPreKey: {id: spk.id(), publicKey: b64(spk.publicKey().serialize()), signature: b64(spk.signature())},
    kyberPreKey: {id: kpk.id(), publicKey: b64(kpk.publicKey().serialize()), signature: b64(kpk.signature())},
  }
}

export function identityPublic(state: E2eState): string {
  return b64(IdentityKeyPair.deserialize(bytes(state.identity)).publicKey.serialize())
}
