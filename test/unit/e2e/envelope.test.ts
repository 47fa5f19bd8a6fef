import {describe, expect, it} from 'vitest'

import {deviceMismatch, envelopeProblem, forDevice, mismatchError, parseEnvelope} from '../../../src/core/e2e/envelope.js'
import {MsgrError} from '../../../src/errors.js'

const D1 = '0190f1a0-3c4e-7a61-9d2e-5b7c8e9f0a11'
const D2 = '0190f1a0-7d21-7b02-8c4f-1e2d3c4b5a62'
const D3 = '0190f1a0-7d21-7b02-8c4f-1e2d3c4b5d03'
const entry = {type: 2, ciphertext: 'AAECAw==', registrationId: 11}

describe('envelopeProblem', () => {
  it('accepts {v: 1, devices} with one {type, ciphertext} per lower-case device UUID', () => {
    expect(envelopeProblem({v: 1, devices: {[D1]: entry, [D2]: {type: 3, ciphertext: 'AAAA', registrationId: 16380}}})).toBeUndefined()
    expect(envelopeProblem({v: 1, devices: {}})).toBeUndefined()
  })

  it('accepts sender-key entries (type 7, no ciphertext) beside a group ciphertext', () => {
    expect(envelopeProblem({v: 1, devices: {[D1]: {type: 7, registrationId: 3}, [D2]: entry}, group: {ciphertext: 'AAAA'}})).toBeUndefined()
    expect(envelopeProblem({v: 1, devices: {[D1]: entry}, group: {ciphertext: 'AAAA'}})).toBeUndefined()
  })

  it.each([
    ['a string', 'hello', /must be an object/],
    ['an array', [], /must be an object/],
    ['plaintext beside the ciphertexts', {v: 1, devices: {}, text: 'hi'}, /unexpected field "text"/],
    ['another version', {v: 2, devices: {}}, /v must be 1/],
    ['devices as an array', {v: 1, devices: []}, /devices must be an object/],
    ['a device id that is not a UUID', {v: 1, devices: {'not-a-uuid': entry}}, /not a lower-case UUID/],
    ['an upper-case device id', {v: 1, devices: {[D1.toUpperCase()]: entry}}, /not a lower-case UUID/],
    ['an entry that is not an object', {v: 1, devices: {[D1]: 'AAAA'}}, /must be \{type, ciphertext, registrationId\}/],
    ['an extra key in an entry', {v: 1, devices: {[D1]: {...entry, text: 'hi'}}}, /exactly type, ciphertext and registrationId/],
    ['an entry without registrationId', {v: 1, devices: {[D1]: {type: 2, ciphertext: 'AAAA'}}}, /exactly type, ciphertext and registrationId/],
    ['an unknown type', {v: 1, devices: {[D1]: {...entry, type: 1}}}, /type must be 2/],
    ['a registrationId out of range', {v: 1, devices: {[D1]: {...entry, registrationId: 0}}}, /registrationId must be an integer/],
    ['a fractional registrationId', {v: 1, devices: {[D1]: {...entry, registrationId: 1.5}}}, /registrationId must be an integer/],
    ['ciphertext that is not base64', {v: 1, devices: {[D1]: {...entry, ciphertext: 'hello world!'}}}, /padded base64/],
    ['unpadded base64', {v: 1, devices: {[D1]: {...entry, ciphertext: 'AAA'}}}, /padded base64/],
    ['an empty ciphertext', {v: 1, devices: {[D1]: {...entry, ciphertext: ''}}}, /padded base64/],
    ['a type 7 entry without the group ciphertext', {v: 1, devices: {[D1]: {type: 7, registrationId: 3}}}, /needs the envelope's group ciphertext/],
    ['a type 7 entry with its own ciphertext', {v: 1, devices: {[D1]: {type: 7, registrationId: 3, ciphertext: 'AAAA'}}, group: {ciphertext: 'AAAA'}}, /exactly type and registrationId/],
    ['a group that is not {ciphertext}', {v: 1, devices: {}, group: {ciphertext: 'AAAA', text: 'hi'}}, /group must be \{ciphertext\}/],
    ['a group ciphertext that is not base64', {v: 1, devices: {}, group: {ciphertext: 'no!'}}, /group must be/],
  ])('refuses %s', (_what, body, message) => {
    expect(envelopeProblem(body)).toMatch(message)
    expect(() => parseEnvelope(body)).toThrow(MsgrError)
    try {
      parseEnvelope(body)
    } catch (error) {
      expect((error as MsgrError).code).toBe('invalid_request')
    }
  })
})

describe('deviceMismatch', () => {
  const expected = [
    {user: 'u1', device: D1, registrationId: 11},
    {user: 'u2', device: D2, registrationId: 11},
  ]

  it('is undefined when the envelope addresses exactly the expected devices', () => {
    expect(deviceMismatch({v: 1, devices: {[D1]: entry, [D2]: entry}} as never, expected)).toBeUndefined()
  })

  it('lists the devices that have no ciphertext, with their users, and the ones that are not expected', () => {
    expect(deviceMismatch({v: 1, devices: {[D1]: entry, [D3]: entry}} as never, expected)).toEqual({missing: [{user: 'u2', device: D2}], extra: [D3], stale: []})
  })

  it('lists as stale the devices addressed under an old registration id (they re-registered)', () => {
    expect(deviceMismatch({v: 1, devices: {[D1]: entry, [D2]: {...entry, registrationId: 12}}} as never, expected)).toEqual({
      missing: [],
      extra: [],
      stale: [{user: 'u2', device: D2}],
    })
  })

  it('becomes a device_mismatch error carrying the three lists', () => {
    const error = mismatchError({missing: [{user: 'u2', device: D2}], extra: [D3], stale: []})
    expect(error.code).toBe('device_mismatch')
    expect(error.status).toBe(409)
    expect(error.toWire().details).toEqual({missing: [{user: 'u2', device: D2}], extra: [D3], stale: []})
  })
})

describe('forDevice', () => {
  it('keeps only the ciphertext of the receiving device', () => {
    const own = {type: 3, ciphertext: 'BBBB', registrationId: 7}
    const message = {kind: 'encrypted', body: {v: 1, devices: {[D1]: entry, [D2]: own}}, seq: 4}
    expect(forDevice(message, D2)).toEqual({kind: 'encrypted', seq: 4, body: {v: 1, devices: {[D2]: own}}})
    expect(forDevice(message, D3).body).toEqual({v: 1, devices: {}})
    expect(message.body.devices[D1]).toEqual(entry) // the original is not changed
  })

  it('leaves other kinds alone', () => {
    const message = {kind: 'text', body: {devices: {[D1]: entry}}}
    expect(forDevice(message, D2)).toBe(message)
  })
})
