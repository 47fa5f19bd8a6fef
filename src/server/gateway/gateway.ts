import {randomUUID} from 'node:crypto'
import {type IncomingMessage, STATUS_CODES} from 'node:http'
import type {Duplex} from 'node:stream'

import {WebSocketServer, type WebSocket} from 'ws'

import {decodeJson, type Delivery, type NodeMessage} from '../../core/envelope.js'
import {FANOUT} from '../../core/fanout.js'
import type {Logger} from '../../core/logger.js'
import type {Bus, Clock, ConnectionRegistry, DistinctLimiter, RateLimiter, Sql} from '../../core/ports.js'
import {CLOSE, MsgrError, toWireError} from '../../errors.js'
import {type Decoded, decodeRequest} from '../../protocol/codec.js'
import {LIMITS} from '../../protocol/frames.js'
import type {NodeConfig} from '../config.js'
import type {FanoutPublisher} from '../fanout-publisher.js'
import type {Metrics} from '../metrics.js'
import {Connection, type Identity} from './connection.js'
import {createGatewayLimits} from './limits.js'
import {type DrainHandle, type DrainOrder, startDrain} from './drainer.js'
import {handleOp} from './ops.js'
import type {PresenceService} from './presence.js'
import {createPendingSends} from './pending-sends.js'

// The WebSocket edge: authenticates upgrades, runs ops, hands bus deliveries to local sockets.

export const SUBPROTOCOL = 'msgr.v1+json'

export interface GatewayDeps {
  sql: Sql
  bus: Bus
  registry: ConnectionRegistry
  fanout: FanoutPublisher
  verifyAccessToken(token: string): Promise<Identity>
  /** Per-user budgets and the duplicate-content rule (config.rateLimits). */
  rateLimiter: RateLimiter
  distinctLimiter: DistinctLimiter
  presence: PresenceService
  logger: Logger
  metrics: Metrics
  clock: Clock
}

export interface Gateway {
  start(): void
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void
  /** Tells every client to reconnect (1012), then closes; sends still in flight are answered first. */
  stop(reason?: string): Promise<void>
  /** Drops every socket at once, as a crash would (fault tests). */
  abort(): void
  /** Cordons the gateway and moves its clients elsewhere by `order.deadlineAt` (operator drain). */
  drain(order: DrainOrder, target: (userId: string) => string | undefined): Promise<void>
  /** Cancels a drain: the gateway takes new connections again. */
  undrain(): void
  connectionCount(): number
  draining(): boolean
}

export function createGateway(config: NodeConfig, deps: GatewayDeps): Gateway {
  const {logger, metrics} = deps
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: LIMITS.hardMaxFrameBytes,
    perMessageDeflate: false,
    // The frame decoder checks UTF-8 itself and answers with a coded error instead of closing (1007).
    skipUTF8Validation: true,
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  })
  const byUser = new Map<string, Set<Connection>>()
  const all = new Set<Connection>()
  const pending = createPendingSends({bus: deps.bus, partitions: config.partitions, timeoutMs: config.sendTimeoutMs})
  const limits = createGatewayLimits(config.rateLimits, {...deps, nodeId: config.nodeId, limiter: deps.rateLimiter, distinct: deps.distinctLimiter})
  const ctx = {nodeId: config.nodeId, sql: deps.sql, pending, fanout: deps.fanout, clock: deps.clock, metrics, presence: deps.presence, limits}
  let unsubscribe: (() => void) | undefined
  let heartbeat: NodeJS.Timeout | undefined
  let routeRefresh: NodeJS.Timeout | undefined
  let isDraining = false
  let drainHandle: DrainHandle | undefined
  let dispatching: Promise<void> = Promise.resolve()

  function onNodeMessage(data: Uint8Array): void {
    let message: NodeMessage
    try {
      message = decodeJson<NodeMessage>(data)
    } catch {
      logger.error('undecodable node message')
      return
    }
    for (const outcome of message.acks ?? []) pending.resolve(outcome)
    if (message.deliveries?.length) {
      const deliveries = message.deliveries
      // One chain keeps deliveries in arrival order even while a staged one yields between slices.
      dispatching = dispatching.then(() => dispatch(deliveries)).catch((error) => logger.error({err: error}, 'dispatch failed'))
    }
  }

  async function dispatch(deliveries: Delivery[]): Promise<void> {
    for (const delivery of deliveries) {
      const text = JSON.stringify(delivery.event) // once per delivery, whatever the number of sockets
      let written = 0
      for (const user of delivery.users) {
        for (const conn of byUser.get(user) ?? []) {
          if (conn.identity.deviceId === delivery.skipDevice) continue
          if (conn.sendRaw(text)) metrics.deliveries.inc()
          // Staged: a 5,000-member delivery must not hold the event loop from every other socket.
          if (++written % FANOUT.socketSlice === 0) await new Promise((r) => setImmediate(r))
        }
      }
    }
  }

  function accept(ws: WebSocket, identity: Identity): void {
    const conn = new Connection(ws, identity, randomUUID(), config.nodeId, config.maxBufferedBytes, () => metrics.slowConsumerCloses.inc())
    all.add(conn)
    metrics.connections.inc()
    metrics.connectsTotal.inc()
    let closed = false

    // Frames wait until the route is registered, so a client's first sync never misses a message
    // committed after it (the worker looks routes up only after its commit). Local delivery starts in
    // the same tick as `hello`, so `hello` is always the first frame.
    const ready = deps.registry
      .add(conn.route)
      .catch((error) => logger.warn({err: error}, 'route registration failed; live delivery may lag until the next refresh'))
      .then(() => {
        if (closed) return
        deps.presence.connected(identity.userId)
        let users = byUser.get(identity.userId)
        if (!users) byUser.set(identity.userId, (users = new Set()))
        users.add(conn)
        conn.event({
          ev: 'hello',
          user: identity.userId,
          device: identity.deviceId,
          node: config.nodeId,
          heartbeatMs: config.heartbeatMs,
          limits: {maxFrameBytes: LIMITS.maxFrameBytes, maxBodyBytes: LIMITS.maxBodyBytes},
        })
      })
    let chain: Promise<void> = ready
    ws.on('message', (data: Buffer, isBinary) => {
      chain = chain.then(() => onFrame(conn, data, isBinary))
    })
    ws.on('pong', () => {
      conn.alive = true
    })
    ws.on('error', (error) => logger.debug({err: error}, 'socket error'))
    ws.on('close', () => {
      closed = true
      all.delete(conn)
      const set = byUser.get(identity.userId)
      set?.delete(conn)
      if (set?.size === 0) byUser.delete(identity.userId)
      metrics.connections.dec()
      deps.presence.connectionClosed(conn.id)
      void ready
        .then(() => deps.registry.remove(conn.route))
        .then(() => deps.presence.disconnected(identity.userId))
        .catch(() => {})
    })
  }

  async function onFrame(conn: Connection, data: Buffer, isBinary: boolean): Promise<void> {
    const decoded: Decoded = isBinary
      ? {ok: false, error: {code: 'invalid_request', message: 'binary frames need a binary subprotocol'}}
      : decodeRequest(data)
    if (limits.refuseFrame(conn, decoded.ok ? decoded.request.id : decoded.re)) return
    if (!decoded.ok) {
      metrics.frameErrors.inc({code: decoded.error.code})
      conn.replyError(decoded.re, decoded.error)
      if (conn.recordBadFrame(deps.clock.now())) conn.ws.close(CLOSE.policy, 'too many invalid frames')
      return
    }
    const {request} = decoded
    metrics.frames.inc({op: request.op})
    // Ops run concurrently; replies carry `re`, so order between replies is not promised.
    void handleOp(ctx, conn.identity, request, conn.id).then(
      (result) => conn.reply(request.id, result),
      (error) => {
        if (!(error instanceof MsgrError)) logger.error({err: error, op: request.op}, 'op failed')
        const wire = toWireError(error)
        metrics.frameErrors.inc({code: wire.code})
        conn.replyError(request.id, wire)
      },
    )
  }

  function rejectUpgrade(socket: Duplex, status: number, code: string, message: string, details?: Record<string, unknown>): void {
    metrics.upgradeRejects.inc({code})
    const body = JSON.stringify({error: details ? {code, message, details} : {code, message}})
    const retryAfter = typeof details?.retryAfterMs === 'number' ? `retry-after: ${Math.ceil(details.retryAfterMs / 1000)}\r\n` : ''
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${retryAfter}connection: close\r\n\r\n${body}`,
    )
  }

  return {
    start() {
      unsubscribe = deps.bus.subscribeNode(config.nodeId, onNodeMessage)
      heartbeat = setInterval(() => {
        for (const conn of all) {
          if (!conn.alive) {
            conn.ws.terminate()
            continue
          }
          conn.alive = false
          conn.ws.ping()
        }
      }, config.heartbeatMs)
      routeRefresh = setInterval(
        () => void deps.registry.refresh(config.nodeId, [...all].map((c) => c.route)).catch((error) => logger.warn({err: error}, 'route refresh failed')),
        Math.max(1000, Math.floor(config.routeTtlMs / 3)),
      )
    },

    handleUpgrade(req, socket, head) {
      if (isDraining) return rejectUpgrade(socket, 503, 'unavailable', 'node is draining; reconnect elsewhere')
      const url = new URL(req.url ?? '/', 'http://local')
      const header = req.headers.authorization
      const token = header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('access_token')
      if (!token) return rejectUpgrade(socket, 401, 'unauthenticated', 'send Authorization: Bearer <accessToken> or ?access_token=')
      // Max connections per user: refused here with 429 and Retry-After, not closed after the upgrade.
      const admitted = deps.verifyAccessToken(token).then((identity) => limits.admit(identity, socket).then(() => identity))
      admitted.then(
        (identity) => wss.handleUpgrade(req, socket, head, (ws) => accept(ws, identity)),
        (error) => {
          if (error instanceof MsgrError) return rejectUpgrade(socket, error.status, error.code, error.message, error.details)
          logger.error({err: error}, 'upgrade authentication failed')
          rejectUpgrade(socket, 503, 'unavailable', 'cannot authenticate right now; retry')
        },
      )
    },

    async stop(reason = 'shutdown') {
      isDraining = true
      clearInterval(heartbeat)
      clearInterval(routeRefresh)
      for (const conn of all) conn.event({ev: 'reconnect', reason})
      // Let sends in flight get their outcome before the socket goes.
      const deadline = deps.clock.now() + Math.min(config.sendTimeoutMs, config.shutdownGraceMs)
      while (pending.size() > 0 && deps.clock.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      pending.failAll(new MsgrError('unavailable', 'node shutting down; retry with the same clientMsgId'))
      await new Promise((r) => setImmediate(r)) // the replies to those sends go out before the sockets close
      for (const conn of all) conn.ws.close(CLOSE.serviceRestart, reason)
      await new Promise((r) => setTimeout(r, 50))
      for (const conn of all) conn.ws.terminate()
      unsubscribe?.()
      deps.presence.stop()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    },

    async drain(order, target) {
      isDraining = true
      drainHandle?.cancel()
      drainHandle = startDrain(() => [...all], order, {clock: deps.clock, target})
      await drainHandle.done
    },

    undrain() {
      drainHandle?.cancel()
      drainHandle = undefined
      isDraining = false
    },

    abort() {
      isDraining = true
      clearInterval(heartbeat)
      clearInterval(routeRefresh)
      unsubscribe?.()
      for (const conn of all) conn.ws.terminate()
      wss.close()
    },

    connectionCount: () => all.size,
    draining: () => isDraining,
  }
}
