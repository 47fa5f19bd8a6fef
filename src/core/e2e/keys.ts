import {KEMPublicKey, PublicKey} from '@signalapp/libsignal-client'

import {MsgrError} from '../../errors.js'

// Rules of the key directory (docs/e2e.md): what a device's uploaded public keys must satisfy.

export const PREKEYS = {
  /** Under this many one-time prekeys a device is warned (`keys.low`, `low: true`) to upload more. */
  lowThreshold: 20,
  /** Most one-time prekeys the server keeps per device; an upload beyond it is refused. */
  maxStored: 1000,
} as const

export interface SignedKeyInput {
  id: number
  publicKey: string
  signature: string
}

/** Throws invalid_request unless `key` is a serialized Curve25519 public key (33 bytes, type 0x05). */
export function parseIdentityKey(key: string, what = 'identityKey'): PublicKey {
  try {
    return PublicKey.deserialize(fromBase64(key))
  } catch {
    throw new MsgrError('invalid_request', `${what} is not a serialized Curve25519 public key`)
  }
}

/** The signed prekey must be an EC key signed by the identity key (XEdDSA), as libsignal checks it. */
export function verifySignedPreKey(identity: PublicKey, key: SignedKeyInput): void {
  parseIdentityKey(key.publicKey, 'signedPreKey.publicKey')
  if (!identity.verify(fromBase64(key.publicKey), fromBase64(key.signature))) {
    throw new MsgrError('invalid_request', 'signedPreKey.signature does not verify with the identity key')
  }
}

/** The Kyber (PQXDH last-resort) prekey must be a KEM public key signed by the identity key. */
export function verifyKyberPreKey(identity: PublicKey, key: SignedKeyInput): void {
  try {
    KEMPublicKey.deserialize(fromBase64(key.publicKey))
  } catch {
    throw new MsgrError('invalid_request', 'kyberPreKey.publicKey is not a serialized Kyber public key')
  }
  if (!identity.verify(fromBase64(key.publicKey), fromBase64(key.signature))) {
    throw new MsgrError('invalid_request', 'kyberPreKey.signature does not verify with the identity key')
  }
}

/** One-time prekeys: EC public keys with distinct ids. */
export function checkOneTimePreKeys(keys: ReadonlyArray<{id: number; publicKey: string}>): void {
  const ids = new Set<number>()
  for (const key of keys) {
    if (ids.has(key.id)) throw new MsgrError('invalid_request', `preKeys: id ${key.id} appears twice`)
    ids.add(key.id)
    parseIdentityKey(key.publicKey, `preKeys[id ${key.id}].publicKey`)
  }
}

export function fromBase64(value: string): Uint8Array<ArrayBuffer> {
  const buffer = Buffer.from(value, 'base64')
  return new Uint8Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength)) as Uint8Array<ArrayBuffer>
}
