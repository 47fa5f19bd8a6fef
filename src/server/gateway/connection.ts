import type {WebSocket} from 'ws'

import type {Route} from '../../core/ports.js'
import {CLOSE, type WireError} from '../../errors.js'
import {encodeErrorReply, encodeEvent, encodeReply} from '../../protocol/codec.js'
import type {ServerEvent} from '../../protocol/frames.js'

// One client socket: identity, bounded send buffer, abuse accounting.

export interface Identity {
  userId: string
  deviceId: string
  sessionId: string
}

const ABUSE_WINDOW_MS = 10_000
const ABUSE_LIMIT = 50

export class Connection {
  readonly route: Route
  alive = true
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

  /** Writes a pre-serialised frame; a client that stops reading is cut off instead of buffering forever. */
  sendRaw(text: string): boolean {
    if (!this.open) return false
    if (this.ws.bufferedAmount > this.maxBufferedBytes) {
      this.onSlow(this)
      this.ws.close(CLOSE.overloaded, 'slow consumer: reconnect and sync')
      return false
    }
    this.ws.send(text)
    return true
  }

  reply(re: string, result: object): void {
    this.sendRaw(encodeReply(re, result))
  }

  replyError(re: string | undefined, error: WireError): void {
    this.sendRaw(re === undefined ? encodeEvent({ev: 'error', error}) : encodeErrorReply(re, error))
  }

  event(event: ServerEvent): void {
    this.sendRaw(encodeEvent(event))
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
