import {describe, expect, it} from 'vitest'

import {decodeMsgpack} from '../../../src/protocol/codec-msgpack.js'
import {codecForSubprotocol, EncodedOnce, JSON_CODEC, MSGPACK_CODEC, selectSubprotocol, SUBPROTOCOLS} from '../../../src/protocol/codec-wire.js'

describe('subprotocol negotiation', () => {
  it("takes the client's first subprotocol that msgr speaks", () => {
    expect(selectSubprotocol(['msgr.v1+msgpack', 'msgr.v1+json'])).toBe(SUBPROTOCOLS.msgpack)
    expect(selectSubprotocol(['chat', 'msgr.v1+json', 'msgr.v1+msgpack'])).toBe(SUBPROTOCOLS.json)
    expect(selectSubprotocol(['chat', 'msgr.v2+cbor'])).toBe(false)
    expect(selectSubprotocol([])).toBe(false)
  })

  it('no subprotocol (or an unknown one) speaks JSON', () => {
    expect(codecForSubprotocol('')).toBe(JSON_CODEC)
    expect(codecForSubprotocol(undefined)).toBe(JSON_CODEC)
    expect(codecForSubprotocol('msgr.v1+json')).toBe(JSON_CODEC)
    expect(codecForSubprotocol('msgr.v1+msgpack')).toBe(MSGPACK_CODEC)
  })
})

describe('codecs', () => {
  it('JSON: text out, binary in refused with a coded error', () => {
    expect(JSON_CODEC.encode({re: '1', ok: true})).toBe('{"re":"1","ok":true}')
    expect(JSON_CODEC.decode(Buffer.from('{"id":"1","op":"ping"}'), true)).toMatchObject({ok: false, error: {code: 'invalid_request'}})
    expect(JSON_CODEC.decode(Buffer.from('{"id":"1","op":"ping"}'), false)).toEqual({ok: true, request: {id: '1', op: 'ping', args: {}}})
  })

  it('MessagePack: binary out and in', () => {
    const frame = MSGPACK_CODEC.encode({re: '1', ok: true})
    expect(Buffer.isBuffer(frame)).toBe(true)
    expect(decodeMsgpack(frame as Buffer)).toEqual({re: '1', ok: true})
    expect(MSGPACK_CODEC.decode(MSGPACK_CODEC.encode({id: '1', op: 'ping'}) as Buffer, true)).toEqual({ok: true, request: {id: '1', op: 'ping', args: {}}})
  })

  it('EncodedOnce encodes an event once per codec, however many sockets ask', () => {
    const event = {ev: 'typing', conversation: 'c', user: 'u', typing: true}
    const once = new EncodedOnce(event)
    const json = once.for(JSON_CODEC)
    expect(once.for(JSON_CODEC)).toBe(json) // the same Buffer, not an equal one
    const binary = once.for(MSGPACK_CODEC)
    expect(once.for(MSGPACK_CODEC)).toBe(binary)
    expect(JSON.parse(json.toString('utf8'))).toEqual(event)
    expect(decodeMsgpack(binary)).toEqual(event)
  })
})
