import {EventEmitter} from 'node:events'

import WebSocket from 'ws'

import type {TokenPair} from '../core/auth/auth-service.js'
import type {WireError} from '../errors.js'
import {decodeMsgpack, encodeMsgpack} from '../protocol/codec-msgpack.js'
import {type CodecName, SUBPROTOCOLS} from '../protocol/codec-wire.js'
import type {OpName, ResultOf, ServerEvent} from '../protocol/frames.js'

// A protocol-v1 client over a real WebSocket: used by the CLI, the tests, the simulator and the chat UI.

export const CLIENT_SUBPROTOCOL = SUBPROTOCOLS.json

export class RequestError extends Error {
  constructor(readonly error: WireError) {
    super(`${error.code}: ${error.message}`)
    this.name = 'RequestError'
  }
  get code(): string {
    return this.error.code
  }
}

export interface ClientOptions {
  /** ms before an unanswered request rejects with code "timeout" (default 30 s); sends may be retried with the same clientMsgId. */
  requestTimeoutMs?: number
  /** Wire codec, negotiated by subprotocol: JSON text frames (default) or MessagePack binary frames. */
  codec?: CodecName
  /** Local address to bind the socket to (the simulator spreads many sockets over several source addresses). */
  localAddress?: string
  /** Local port to bind to, with localAddress (the simulator gives each virtual device its own). */
  localPort?: number
  /** ms before an unfinished WebSocket handshake fails (default: none). */
  handshakeTimeoutMs?: number
}

/** Arguments of an op, as a client writes them (defaults may be left out). */
export type OpInput<O extends OpName> = O extends 'ping' ? Record<string, never> : Record<string, unknown>

export class MsgrClient extends EventEmitter<{event: [ServerEvent]; close: [number, string]}> {
  private nextId = 1
  private readonly waiting = new Map<string, {resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout}>()
  readonly events: ServerEvent[] = []
  closeCode?: number

  private constructor(
    readonly ws: WebSocket,
    private readonly options: ClientOptions,
  ) {
    super()
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(isBinary ? safeUnpack(data) : safeParse(data.toString('utf8'))))
    // A reset connection surfaces as 'close' (which fails what is waiting); the error itself adds nothing.
    ws.on('error', () => {})
    ws.on('close', (code, reason) => {
      this.closeCode = code
      for (const [id, w] of this.waiting) {
        clearTimeout(w.timer)
        w.reject(new RequestError({code: 'unavailable', message: `connection closed (${code}) before reply to ${id}`}))
      }
      this.waiting.clear()
      this.emit('close', code, reason.toString())
    })
  }

  /** `url` is the gateway's base URL (http:// or ws://); the socket goes to /v1/ws. */
  static connect(url: string, accessToken: string, options: ClientOptions = {}): Promise<MsgrClient> {
    const wsUrl = new URL('/v1/ws', url.replace(/^http/, 'ws'))
    const ws = new WebSocket(wsUrl, SUBPROTOCOLS[options.codec ?? 'json'], {
      headers: {authorization: `Bearer ${accessToken}`},
      ...(options.localAddress ? {localAddress: options.localAddress} : {}),
      ...(options.localAddress && options.localPort ? {localPort: options.localPort} : {}),
      ...(options.handshakeTimeoutMs ? {handshakeTimeout: options.handshakeTimeoutMs} : {}),
    })
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new MsgrClient(ws, options)))
      ws.once('unexpected-response', (_req, res) => {
        let body = ''
        res.on('data', (c: Buffer) => (body += c.toString()))
        res.on('end', () => {
          const error = safeParse(body)?.error as WireError | undefined
          reject(new RequestError(error ?? {code: 'unavailable', message: `upgrade refused with ${res.statusCode}`}))
        })
      })
      ws.on('error', reject) // a second error after the first must not go unhandled
    })
  }

  request<O extends OpName>(op: O, args: OpInput<O> = {} as OpInput<O>): Promise<ResultOf<O>> {
    const id = String(this.nextId++)
    const frame = {id, op, ...args}
    return this.requestRaw(this.options.codec === 'msgpack' ? encodeMsgpack(frame) : JSON.stringify(frame), id) as Promise<ResultOf<O>>
  }

  /** Sends a frame as given (tests of malformed input); resolves with the reply to `id`. */
  requestRaw(frame: string | Buffer, id: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new RequestError({code: 'timeout', message: `no reply to ${id}`}))
      }, this.options.requestTimeoutMs ?? 30_000)
      this.waiting.set(id, {resolve, reject, timer})
      this.ws.send(frame)
    })
  }

  /** Resolves with the first event (already received or future) that matches. */
  waitForEvent<E extends ServerEvent>(match: (event: ServerEvent) => event is E, timeoutMs?: number): Promise<E>
  waitForEvent(match: (event: ServerEvent) => boolean, timeoutMs?: number): Promise<ServerEvent>
  waitForEvent(match: (event: ServerEvent) => boolean, timeoutMs = 10_000): Promise<ServerEvent> {
    const seen = this.events.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('event', listener)
        reject(new Error('timed out waiting for event'))
      }, timeoutMs)
      const listener = (event: ServerEvent) => {
        if (!match(event)) return
        clearTimeout(timer)
        this.off('event', listener)
        resolve(event)
      }
      this.on('event', listener)
    })
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve()
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve())
      this.ws.close(1000)
    })
  }

  private onFrame(frame: Record<string, unknown> | undefined): void {
    if (!frame) return
    if (typeof frame.re === 'string') {
      const w = this.waiting.get(frame.re)
      if (!w) return
      this.waiting.delete(frame.re)
      clearTimeout(w.timer)
      if (frame.ok === true) {
        const {re: _re, ok: _ok, ...result} = frame
        w.resolve(result)
      } else {
        w.reject(new RequestError(frame.error as WireError))
      }
      return
    }
    if (typeof frame.ev === 'string') {
      const event = frame as unknown as ServerEvent
      this.events.push(event)
      this.emit('event', event)
    }
  }
}

export type {TokenPair} from '../core/auth/auth-service.js'

/** Logs in through the development OTP endpoint (servers started with --dev). */
export async function loginWithDevOtp(baseUrl: string, phone: string, device = {name: 'msgr-cli', platform: 'cli'}): Promise<TokenPair> {
  await postJson(baseUrl, '/v1/auth/otp/start', {phone})
  const res = await fetch(new URL(`/v1/dev/otp?phone=${encodeURIComponent(phone)}`, baseUrl))
  const body = (await res.json()) as {code?: string; error?: WireError}
  if (!res.ok || !body.code) throw new RequestError(body.error ?? {code: 'unavailable', message: `dev OTP endpoint answered ${res.status}`})
  return postJson<TokenPair>(baseUrl, '/v1/auth/otp/verify', {phone, code: body.code, device})
}

export async function postJson<T = unknown>(baseUrl: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(new URL(path, baseUrl), {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)})
  const text = await res.text()
  const parsed = safeParse(text)
  if (!res.ok) throw new RequestError((parsed?.error as WireError) ?? {code: 'unavailable', message: `${path} answered ${res.status}`})
  return parsed as T
}

function safeUnpack(data: Buffer): Record<string, unknown> | undefined {
  try {
    const value = decodeMsgpack(data)
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function safeParse(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text)
    return typeof value === 'object' && value !== null ? value : undefined
  } catch {
    return undefined
  }
}
