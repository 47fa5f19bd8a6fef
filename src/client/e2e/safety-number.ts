import {createHash} from 'node:crypto'

import {Fingerprint, PrivateKey, type PublicKey} from '@signalapp/libsignal-client'

import {bytes} from './state.js'

// Safety numbers (docs/e2e.md). msgr gives every device its own identity key, so a user is identified by
// the set of its devices' keys: both sides fold each user's (device, identity key) list into one
// Curve25519 key and feed the two into libsignal's Fingerprint (version 2, 5,200 iterations, as Signal).
// The number changes whenever either user adds, removes or re-keys a device.

export interface DeviceKey {
  device: string
  /** base64 serialized public identity key. */
  identityKey: string
}

export const SAFETY_NUMBER_ITERATIONS = 5200
export const SAFETY_NUMBER_VERSION = 2

/** libsignal's 60-digit displayable fingerprint; the same string on both users' devices. */
export function safetyNumber(me: {user: string; devices: DeviceKey[]}, peer: {user: string; devices: DeviceKey[]}): string {
  const fingerprint = Fingerprint.new(
    SAFETY_NUMBER_ITERATIONS,
    SAFETY_NUMBER_VERSION,
    uuidBytes(me.user),
    userKey(me.user, me.devices),
    uuidBytes(peer.user),
    userKey(peer.user, peer.devices),
  )
  return fingerprint.displayableFingerprint().toString()
}

/** "12345 67890 …": the 60 digits in twelve groups of five, as Signal shows them. */
export function formatSafetyNumber(digits: string): string {
  return digits.match(/.{1,5}/g)?.join(' ') ?? digits
}

/** A deterministic public key committing to the sorted list of a user's device identity keys. */
export function userKey(user: string, devices: readonly DeviceKey[]): PublicKey {
  const hash = createHash('sha256').update('msgr-e2e-user-key-v1\n').update(user)
  for (const d of [...devices].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0))) {
    hash.update(`\n${d.device}\n`).update(bytes(d.identityKey))
  }
  return PrivateKey.deserialize(new Uint8Array(hash.digest()) as Uint8Array<ArrayBuffer>).getPublicKey()
}

function uuidBytes(uuid: string): Uint8Array<ArrayBuffer> {
  return bytes(Buffer.from(uuid.replace(/-/g, ''), 'hex').toString('base64'))
}
