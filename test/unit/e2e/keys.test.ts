import {IdentityKeyPair, KEMKeyPair, PrivateKey} from '@signalapp/libsignal-client'
import {describe, expect, it} from 'vitest'

import {checkOneTimePreKeys, parseIdentityKey, verifyKyberPreKey, verifySignedPreKey} from '../../../src/core/e2e/keys.js'
import {formatSafetyNumber, safetyNumber, userKey} from '../../../src/client/e2e/safety-number.js'

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return (error as {code?: string}).code
  }
  return undefined
}

describe('key directory rules', () => {
  const identity = IdentityKeyPair.generate()
  const ec = PrivateKey.generate().getPublicKey().serialize()
  const kem = KEMKeyPair.generate().getPublicKey().serialize()

  it('accepts a signed prekey and a Kyber prekey signed by the identity key', () => {
    expect(() => verifySignedPreKey(identity.publicKey, {id: 1, publicKey: b64(ec), signature: b64(identity.privateKey.sign(ec))})).not.toThrow()
    expect(() => verifyKyberPreKey(identity.publicKey, {id: 1, publicKey: b64(kem), signature: b64(identity.privateKey.sign(kem))})).not.toThrow()
  })

  it('refuses signatures by another key, and keys that do not parse, with invalid_request', () => {
    const other = IdentityKeyPair.generate()
    expect(codeOf(() => verifySignedPreKey(identity.publicKey, {id: 1, publicKey: b64(ec), signature: b64(other.privateKey.sign(ec))}))).toBe('invalid_request')
    expect(codeOf(() => verifyKyberPreKey(identity.publicKey, {id: 1, publicKey: b64(kem), signature: b64(other.privateKey.sign(kem))}))).toBe('invalid_request')
    expect(codeOf(() => verifyKyberPreKey(identity.publicKey, {id: 1, publicKey: b64(ec), signature: b64(identity.privateKey.sign(ec))}))).toBe('invalid_request')
    expect(codeOf(() => parseIdentityKey(b64(new Uint8Array(33))))).toBe('invalid_request')
    expect(codeOf(() => parseIdentityKey('AAAA'))).toBe('invalid_request')
  })

  it('refuses one-time prekeys with a repeated id', () => {
    expect(codeOf(() => checkOneTimePreKeys([{id: 1, publicKey: b64(ec)}, {id: 1, publicKey: b64(ec)}]))).toBe('invalid_request')
    expect(() => checkOneTimePreKeys([{id: 1, publicKey: b64(ec)}, {id: 2, publicKey: b64(ec)}])).not.toThrow()
  })
})

describe('safety numbers', () => {
  const ua = '0190f1a0-3c4e-7a61-9d2e-5b7c8e9f0a11'
  const ub = '0190f1a0-7d21-7b02-8c4f-1e2d3c4b5a62'
  const key = () => b64(IdentityKeyPair.generate().publicKey.serialize())
  const a = {user: ua, devices: [{device: 'd-a1', identityKey: key()}, {device: 'd-a2', identityKey: key()}]}
  const b = {user: ub, devices: [{device: 'd-b1', identityKey: key()}]}

  it('is the same 60 digits on both sides, whatever the order of the device lists', () => {
    const fromA = safetyNumber(a, b)
    expect(fromA).toMatch(/^\d{60}$/)
    expect(safetyNumber({...b}, {...a, devices: [...a.devices].reverse()})).toBe(fromA)
    expect(formatSafetyNumber(fromA)).toMatch(/^(\d{5} ){11}\d{5}$/)
  })

  it('changes when a device is added or its key changes', () => {
    const before = safetyNumber(a, b)
    expect(safetyNumber(a, {...b, devices: [...b.devices, {device: 'd-b2', identityKey: key()}]})).not.toBe(before)
    expect(safetyNumber(a, {...b, devices: [{device: 'd-b1', identityKey: key()}]})).not.toBe(before)
    expect(b64(userKey(ub, b.devices).serialize())).toBe(b64(userKey(ub, [...b.devices]).serialize()))
  })
})
