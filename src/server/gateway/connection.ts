import type {WebSocket} from 'ws'

import type {Route} from '../../core/ports.js'
import {CLOSE, type WireError} from '../../errors.js'
import {JSON_CODEC, type WireCodec} from '../../protocol/codec-wire.js'
import type {ServerEvent} from '../../protocol/frames.js'

// One client socket: identity, bounded send buffer, abuse accounting.

export interface Identity {
  userId: string
  deviceId: string
  sessionId: string
  /** ms since epoch when the access token expires: the gateway closes the socket with 4401 then. */
  expiresAt?: number
}

const ABUSE_WINDOW_MS = 10_000
const ABUSE_LIMIT = 50

export class Connection {
  readonly route: Route
  alive = true
  /** What this socket speaks (negotiated subprotocol): JSON text or MessagePack binary frames. */
  codec: WireCodec = JSON_CODEC
  private badFrames = 0
  private badWindowStart = 0

  constructor(
    readonly ws: WebSocket,
    readonly identity: Identity,
    readonly id: string,
    nodeId: string,
    private readonly maxBufferedBytes: number,
    private readonly onSlow: (conn: Connection) => void,
  ) {
    this.route = {userId: identity.userId, deviceId: identity.deviceId, connId: id, nodeId}
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN
  }

  /** Writes a pre-serialised frame (string: text, Buffer: binary); a client that stops reading is cut off instead of buffering forever. */
  sendRaw(frame: string | Buffer): boolean {
    if (!this.open) return false
    if (this.ws.bufferedAmount > this.maxBufferedBytes) {
      this.onSlow(this)
      this.ws.close(CLOSE.overloaded, 'slow consumer: reconnect and sync')
      return false
    }
    this.ws.send(frame, {binary: this.codec.binary})
    return true
  }

  reply(re: string, result: object): void {
    this.sendRaw(this.codec.encode({re, ok: true, ...result}))
  }

  replyError(re: string | undefined, error: WireError): void {
    this.sendRaw(this.codec.encode(re === undefined ? {ev: 'error', error} : {re, ok: false, error}))
  }

  event(event: ServerEvent): void {
    this.sendRaw(this.codec.encode(event))
  }

  /** Counts a bad frame; true when the client has crossed the abuse limit and should be closed. */
  recordBadFrame(now: number): boolean {
    if (now - this.badWindowStart > ABUSE_WINDOW_MS) {
      this.badWindowStart = now
      this.badFrames = 0
    }
    this.badFrames++
    return this.badFrames > ABUSE_LIMIT
  }
}
