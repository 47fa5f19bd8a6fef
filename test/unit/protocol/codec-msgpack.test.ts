import {pack} from 'msgpackr'
import {describe, expect, it} from 'vitest'

import {decodeRequest} from '../../../src/protocol/codec.js'
import {decodeMsgpack, decodeMsgpackRequest, encodeMsgpack} from '../../../src/protocol/codec-msgpack.js'
import {LIMITS} from '../../../src/protocol/frames.js'

const CONV = '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b'
const send = {id: 'r1', op: 'send', conversation: CONV, clientMsgId: 'c-1', kind: 'text', body: 'hello'}

function decode(value: unknown) {
  return decodeMsgpackRequest(encodeMsgpack(value), true)
}

describe('decodeMsgpackRequest: valid frames', () => {
  it('decodes to exactly what the JSON decoder gives for the same frame', () => {
    const rich = {...send, kind: 'image.v2', body: {url: 'https://x/y.png', w: 10, nested: {a: [1, 2.5, null, true]}}, replyTo: 7}
    for (const frame of [send, rich, {id: 'p', op: 'ping'}, {id: 's', op: 'sync', conversation: CONV}]) {
      expect(decode(frame)).toEqual(decodeRequest(JSON.stringify(frame)))
      expect(decode(frame).ok).toBe(true)
    }
  })

  it('accepts a frame of exactly maxBytes and refuses one byte more with too_large', () => {
    const base = encodeMsgpack({...send, body: ''}).byteLength
    // A str8/str16 header grows with the length: find the body length that lands exactly on the limit.
    const length = LIMITS.maxBodyBytes
    const frame = encodeMsgpack({...send, body: 'x'.repeat(length)})
    expect(frame.byteLength).toBe(base + length + 2) // a str16 header is 3 bytes against fixstr's 1
    expect(decodeMsgpackRequest(frame, true, frame.byteLength).ok).toBe(true)
    const over = decodeMsgpackRequest(frame, true, frame.byteLength - 1)
    expect(over).toMatchObject({ok: false, re: undefined, error: {code: 'too_large'}})
  })

  it('drops undefined fields when encoding, as JSON does', () => {
    expect(decodeMsgpack(encodeMsgpack({ev: 'message', seq: 1, replyTo: undefined}))).toEqual({ev: 'message', seq: 1})
  })
})

describe('decodeMsgpackRequest: unusable frames get a coded error', () => {
  it('a text frame on a msgpack connection -> invalid_request', () => {
    expect(decodeMsgpackRequest(Buffer.from(JSON.stringify(send)), false)).toMatchObject({ok: false, re: undefined, error: {code: 'invalid_request'}})
  })

  it('truncated, trailing or garbage bytes -> invalid_request, no re', () => {
    const full = encodeMsgpack(send)
    for (const bad of [full.subarray(0, full.byteLength - 3), Buffer.concat([full, full]), Buffer.from([0xc1]), Buffer.alloc(0)]) {
      const decoded = decodeMsgpackRequest(bad, true)
      expect(decoded).toMatchObject({ok: false, error: {code: 'invalid_request'}})
      expect(decoded.ok ? undefined : decoded.re).toBeUndefined()
    }
  })

  it('a value that is not a map -> invalid_request naming MessagePack', () => {
    for (const value of [[1, 2], 'send', 42, null]) {
      const decoded = decode(value)
      expect(decoded).toMatchObject({ok: false, error: {code: 'invalid_request', message: 'a frame is one MessagePack map object'}})
    }
  })

  it('values JSON has no equivalent for are refused with re: binary, dates, 64-bit integers, NaN', () => {
    for (const body of [Buffer.from('bin'), new Date(0), Number.NaN, Number.POSITIVE_INFINITY]) {
      const decoded = decodeMsgpackRequest(pack({...send, body: {x: body}}), true)
      expect(decoded).toMatchObject({ok: false, re: 'r1', error: {code: 'invalid_request'}})
    }
    const big = decodeMsgpackRequest(pack({...send, replyTo: 2n ** 63n - 1n}), true)
    expect(big).toMatchObject({ok: false, re: 'r1', error: {code: 'invalid_request'}})
  })

  it('missing id, unknown op and bad arguments get the same answers as JSON', () => {
    expect(decode({op: 'ping'})).toMatchObject({ok: false, re: undefined, error: {code: 'invalid_request'}})
    expect(decode({id: 'r2', op: 'snd'})).toMatchObject({ok: false, re: 'r2', error: {code: 'unknown_op'}})
    expect(decode({...send, conversation: 'nope'})).toMatchObject({ok: false, re: 'r1', error: {code: 'invalid_request'}})
  })

  it('a __proto__ key neither pollutes prototypes nor passes as a field', () => {
    const decoded = decodeMsgpackRequest(pack(JSON.parse(`{"id":"r3","op":"send","conversation":"${CONV}","clientMsgId":"c","kind":"text","body":{"__proto__":{"polluted":1}}}`)), true)
    expect(({} as {polluted?: unknown}).polluted).toBeUndefined()
    if (decoded.ok) expect(Object.getPrototypeOf((decoded.request.args as {body: object}).body)).toBe(Object.prototype)
  })

  it('hostile nesting never throws', () => {
    // 60,000 one-element arrays, one inside the other, built byte by byte (packing it would overflow first).
    const deep = Buffer.concat([Buffer.alloc(60_000, 0x91), Buffer.from([0xc0])])
    expect(() => decodeMsgpackRequest(deep, true)).not.toThrow()
    expect(decodeMsgpackRequest(deep, true)).toMatchObject({ok: false, error: {code: 'invalid_request'}})
  })
})
