import {type Decoded, decodeRequest, fail} from './codec.js'
import {decodeMsgpackRequest, encodeMsgpack} from './codec-msgpack.js'
import {MsgrError} from '../errors.js'

// The codecs a connection can speak, chosen by WebSocket subprotocol at the upgrade.

export const SUBPROTOCOLS = {json: 'msgr.v1+json', msgpack: 'msgr.v1+msgpack'} as const
export type CodecName = keyof typeof SUBPROTOCOLS
export const CODEC_NAMES = Object.keys(SUBPROTOCOLS) as CodecName[]

export interface WireCodec {
  name: CodecName
  subprotocol: string
  /** Frames go out as binary WebSocket frames (MessagePack) or text frames (JSON). */
  binary: boolean
  /** Bytes of one frame from the client → a validated request or a coded error. */
  decode(data: Buffer, isBinary: boolean): Decoded
  /** One reply or event → what the socket sends: a string goes out as a text frame, a Buffer as binary. */
  encode(frame: object): string | Buffer
}

export const JSON_CODEC: WireCodec = {
  name: 'json',
  subprotocol: SUBPROTOCOLS.json,
  binary: false,
  decode: (data, isBinary) =>
    isBinary ? fail(undefined, new MsgrError('invalid_request', 'binary frames need the msgr.v1+msgpack subprotocol')) : decodeRequest(data),
  encode: (frame) => JSON.stringify(frame),
}

export const MSGPACK_CODEC: WireCodec = {
  name: 'msgpack',
  subprotocol: SUBPROTOCOLS.msgpack,
  binary: true,
  decode: (data, isBinary) => decodeMsgpackRequest(data, isBinary),
  encode: (frame) => encodeMsgpack(frame),
}

const BY_SUBPROTOCOL = new Map<string, WireCodec>([JSON_CODEC, MSGPACK_CODEC].map((c) => [c.subprotocol, c]))

/** The codec of a negotiated subprotocol; none offered (or an unknown one) means JSON. */
export function codecForSubprotocol(protocol: string | undefined): WireCodec {
  return (protocol && BY_SUBPROTOCOL.get(protocol)) || JSON_CODEC
}

/** The server's pick among the offered subprotocols: the client's first one that msgr speaks, or none. */
export function selectSubprotocol(offered: Iterable<string>): string | false {
  for (const protocol of offered) if (BY_SUBPROTOCOL.has(protocol)) return protocol
  return false
}

/**
 * Encodes one event at most once per codec however many sockets get it: the gateway's fanout writes
 * the same bytes to every socket of that codec (JSON too goes out as one Buffer, sent as a text frame,
 * so the UTF-8 encoding is not repeated per socket either).
 */
export class EncodedOnce {
  private json?: Buffer
  private msgpack?: Buffer

  constructor(private readonly frame: object) {}

  for(codec: WireCodec): Buffer {
    if (codec.name === 'json') return (this.json ??= Buffer.from(codec.encode(this.frame)))
    return (this.msgpack ??= toBuffer(codec.encode(this.frame)))
  }
}

function toBuffer(frame: string | Buffer): Buffer {
  return typeof frame === 'string' ? Buffer.from(frame) : frame
}
