import {Packr, Unpackr} from 'msgpackr'

import {MsgrError} from '../errors.js'
import {type Decoded, fail, validateFrame} from './codec.js'
import {LIMITS} from './frames.js'

// MessagePack frames (subprotocol msgr.v1+msgpack): binary frames holding one MessagePack map with the
// same fields as the JSON frame. Only JSON-shaped values are accepted, so a message stored from a
// MessagePack client reads back the same through either codec.

/** Plain MessagePack maps both ways (no msgpackr records); undefined fields are left out, as JSON does. */
// `skipValues` is implemented by msgpackr 2.x but missing from its type definitions.
const packr = new Packr({useRecords: false, skipValues: [undefined]} as ConstructorParameters<typeof Packr>[0])
const unpackr = new Unpackr({useRecords: false, mapsAsObjects: true})

/** Deepest nesting a frame may have; bodies are limited further by the send schema. */
const MAX_FRAME_DEPTH = 32

export function encodeMsgpack(value: unknown): Buffer {
  return packr.pack(value)
}

/** Decodes a server frame (client side); throws on bytes that are not one MessagePack value. */
export function decodeMsgpack(data: Uint8Array): unknown {
  return unpackr.unpack(data)
}

export function decodeMsgpackRequest(data: Buffer, isBinary: boolean, maxBytes: number = LIMITS.maxFrameBytes): Decoded {
  if (!isBinary) return fail(undefined, new MsgrError('invalid_request', 'this connection speaks msgr.v1+msgpack: send binary frames'))
  if (data.byteLength > maxBytes) return fail(undefined, new MsgrError('too_large', `frame is ${data.byteLength} bytes; the limit is ${maxBytes}`))
  let raw: unknown
  try {
    raw = unpackr.unpack(data)
  } catch {
    return fail(undefined, new MsgrError('invalid_request', 'frame is not one valid MessagePack value'))
  }
  const problem = notJsonShaped(raw, 0)
  if (problem) {
    const id = (raw as {id?: unknown} | null)?.id
    const re = typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined
    return fail(re, new MsgrError('invalid_request', `frame holds ${problem}; only JSON-shaped values are accepted`))
  }
  return validateFrame(raw, 'MessagePack map')
}

/** What in `value` has no JSON equivalent (binary, extension types, 64-bit integers, NaN…), or undefined. */
function notJsonShaped(value: unknown, depth: number): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : 'a non-finite number'
  if (typeof value !== 'object') return `a value of type ${typeof value}`
  if (depth >= MAX_FRAME_DEPTH) return `values nested deeper than ${MAX_FRAME_DEPTH} levels`
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = notJsonShaped(item, depth + 1)
      if (problem) return problem
    }
    return undefined
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return `a ${(value as object).constructor?.name ?? 'non-plain'} value`
  for (const key in value) {
    const problem = notJsonShaped((value as Record<string, unknown>)[key], depth + 1)
    if (problem) return problem
  }
  return undefined
}
