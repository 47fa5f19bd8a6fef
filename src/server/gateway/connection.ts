import {WebSocket} from 'ws'

import type {Route} from '../../core/ports.js'
import {CLOSE, type WireError} from '../../errors.js'
import {JSON_CODEC, type WireCodec} from '../../protocol/codec-wire.js'
import type {ServerEvent} from '../../protocol/frames.js'

// One client socket: identity, bounded send buffer, abuse accounting. Every field is per connection
// and idle connections are the gateway's bulk, so whatever all sockets share lives in one
// ConnectionShared object, and nothing here is allocated until it is needed.

export interface Identity {
  userId: string
  deviceId: string
  /** Checked at the upgrade (revocation); a connection does not keep it. */
  sessionId?: string
  /** ms since epoch when the access token expires: the gateway closes the socket with 4401 then. */
  expiresAt?: number
}

/** What every connection of one gateway has in common. */
export interface ConnectionShared {
  nodeId: string
  /** Connection ids are this prefix and the connection's sequence number. */
  idPrefix: string
  maxBufferedBytes: number
  onSlow(conn: Connection): void
}

/** Where a connection is in its life: frames wait while `registering`; a `closed` one is not registered afterwards. */
export type Phase = 'registering' | 'live' | 'closed'

const ABUSE_WINDOW_MS = 10_000
const ABUSE_LIMIT = 50

export class Connection {
  alive = true
  phase: Phase = 'registering'
  /** What this socket speaks (negotiated subprotocol): JSON text or MessagePack binary frames. */
  codec: WireCodec = JSON_CODEC
  /** Frames received while registering (data, isBinary, …), handled in order once live. */
  early: Array<Buffer | boolean> | undefined = undefined
  /** Token expiry: deadline on the expiry queue's clock and the slot it holds there (-1: none). */
  deadline = 0
  slot = -1
  private badFrames = 0
  private badWindowStart = 0

  constructor(
    readonly ws: GatewaySocket,
    readonly identity: Identity,
    private readonly seq: number,
    private readonly shared: ConnectionShared,
  ) {}

  /** Unique across the cluster (routes, typing state, logs); built when asked for, not stored (a UUID string is 56 bytes). */
  get id(): string {
    return this.shared.idPrefix + this.seq.toString(36)
  }

  /** Built when asked for (registration, refresh, removal), not kept per idle socket. */
  get route(): Route {
    return {userId: this.identity.userId, deviceId: this.identity.deviceId, connId: this.id, nodeId: this.shared.nodeId}
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  /** Writes a pre-serialised frame (string: text, Buffer: binary); a client that stops reading is cut off instead of buffering forever. */
  sendRaw(frame: string | Buffer): boolean {
    if (!this.open) return false
    if (this.ws.bufferedAmount > this.shared.maxBufferedBytes) {
      this.shared.onSlow(this)
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

/** What a gateway does with its sockets' events. */
export interface SocketEvents {
  message(conn: Connection, data: Buffer, isBinary: boolean): void
  pong(conn: Connection): void
  error(conn: Connection, error: Error): void
  close(conn: Connection): void
}

/** The `ws` socket the gateway's server creates (ws's `WebSocket` option): it knows its Connection. */
export class GatewaySocket extends WebSocket {
  conn: Connection | undefined = undefined
}

/**
 * A GatewaySocket class whose sockets hand their events straight to `events`, without listeners: a
 * listener table with four entries costs ~250 bytes per socket, and a closure per listener more.
 * Listeners added with `on` still hear every event.
 */
export function socketClass(events: SocketEvents): typeof GatewaySocket {
  return class extends GatewaySocket {
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      const conn = this.conn
      if (conn === undefined) return super.emit(event, ...args)
      switch (event) {
        case 'message':
          events.message(conn, args[0] as Buffer, args[1] as boolean)
          break
        case 'pong':
          events.pong(conn)
          break
        case 'error':
          events.error(conn, args[0] as Error)
          break
        case 'close':
          events.close(conn)
          break
        default:
          return super.emit(event, ...args)
      }
      return this.listenerCount(event) > 0 ? super.emit(event, ...args) : true
    }
  }
}
