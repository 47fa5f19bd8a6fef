import {randomBytes} from 'node:crypto'
import {type IncomingMessage, STATUS_CODES} from 'node:http'
import type {Duplex} from 'node:stream'

import {WebSocketServer} from 'ws'

import {decodeJson, type Delivery, type DevicePush, encodeJson, type NodeMessage} from '../../core/envelope.js'
import {forDevice} from '../../core/e2e/envelope.js'
import {FANOUT} from '../../core/fanout.js'
import type {Logger} from '../../core/logger.js'
import type {Bus, Clock, ConnectionRegistry, DistinctLimiter, RateLimiter, Sql} from '../../core/ports.js'
import {CLOSE, MsgrError, toWireError} from '../../errors.js'
import type {Decoded} from '../../protocol/codec.js'
import {codecForSubprotocol, EncodedOnce, selectSubprotocol, SUBPROTOCOLS} from '../../protocol/codec-wire.js'
import {E2E_KIND, LIMITS} from '../../protocol/frames.js'
import type {NodeConfig} from '../config.js'
import type {PushProviderName} from '../../core/push/provider.js'
import type {PushPlanner} from '../push/planner.js'
import type {FanoutPublisher} from '../fanout-publisher.js'
import type {Metrics} from '../metrics.js'
import {Connection, type ConnectionShared, type GatewaySocket, type Identity, socketClass} from './connection.js'
import {createExpiryQueue} from './expiry-queue.js'
import {createGatewayLimits} from './limits.js'
import {type DrainHandle, type DrainOrder, startDrain} from './drainer.js'
import {handleOp} from './ops.js'
import type {PresenceService} from './presence.js'
import {createPendingSends} from './pending-sends.js'
import {UserConnections} from './user-connections.js'

// The WebSocket edge: authenticates upgrades, runs ops, hands bus deliveries to local sockets.

export const SUBPROTOCOL = SUBPROTOCOLS.json

// setTimeout's ceiling (~24.8 days): a socket whose token lives longer is closed then, early, with the same 4401.
const MAX_TIMER_MS = 2 ** 31 - 1

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
  /** Push: the providers push.register accepts, and where devices that missed a message are reported. */
  push: {providers: readonly PushProviderName[]; planner?: Pick<PushPlanner, 'missed'>}
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
  /** Closes a device's sockets on every gateway (4401): its session was revoked. */
  closeDevice(user: string, device: string): Promise<void>
}

export function createGateway(config: NodeConfig, deps: GatewayDeps): Gateway {
  const {logger, metrics} = deps
  const wss = new WebSocketServer({
    noServer: true,
    // The gateway keeps its own set of connections; ws's would add a Set entry and a listener per socket.
    clientTracking: false,
    // Its sockets hand their events to the gateway's four functions: no listeners, no closures per socket.
    WebSocket: socketClass({message: onSocketMessage, pong: onSocketPong, error: onSocketError, close: onSocketClose}),
    maxPayload: LIMITS.hardMaxFrameBytes,
    // permessage-deflate costs a zlib context per socket: off unless --ws-compression.
    perMessageDeflate: config.wsCompression ? {threshold: 256} : false,
    // The frame decoder checks UTF-8 itself and answers with a coded error instead of closing (1007).
    skipUTF8Validation: true,
    // The codec's own string, not the one parsed from this request's header: one copy for all sockets.
    handleProtocols: (offered) => {
      const protocol = selectSubprotocol(offered)
      return protocol && codecForSubprotocol(protocol).subprotocol
    },
  })
  const byUser = new UserConnections()
  const all = new Set<Connection>()
  // Connection ids are this gateway's random prefix and a sequence number: unique across nodes and restarts.
  const shared: ConnectionShared = {nodeId: config.nodeId, idPrefix: `${randomBytes(9).toString('base64url')}.`, maxBufferedBytes: config.maxBufferedBytes, onSlow: () => metrics.slowConsumerCloses.inc()}
  let connections = 0
  // A socket does not outlive its access token: the client refreshes and reconnects (terminal for this token).
  const expiry = createExpiryQueue<Connection>((conn) => {
    metrics.authCloses.inc()
    conn.ws.close(CLOSE.unauthenticated, 'access token expired; refresh it and reconnect')
  })
  const pending = createPendingSends({bus: deps.bus, partitions: config.partitions, timeoutMs: config.sendTimeoutMs})
  const limits = createGatewayLimits(config.rateLimits, {...deps, nodeId: config.nodeId, limiter: deps.rateLimiter, distinct: deps.distinctLimiter})
  const ctx = {nodeId: config.nodeId, sql: deps.sql, pending, fanout: deps.fanout, clock: deps.clock, metrics, presence: deps.presence, limits, devices: {providers: deps.push.providers, allowHttpEndpoints: config.dev, webpushHosts: config.push.webpush?.allowedHosts, closeDevice}}
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
    for (const gone of message.logout ?? []) closeLoggedOut(gone)
    if (message.deliveries?.length) {
      const deliveries = message.deliveries
      // One chain keeps deliveries in arrival order even while a staged one yields between slices.
      dispatching = dispatching.then(() => dispatch(deliveries)).catch((error) => logger.error({err: error}, 'dispatch failed'))
    }
  }

  async function dispatch(deliveries: Delivery[]): Promise<void> {
    for (const delivery of deliveries) {
      const frames = new EncodedOnce(delivery.event) // once per delivery and codec, whatever the number of sockets
      const encrypted = delivery.event.ev === 'message' && delivery.event.kind === E2E_KIND ? delivery.event : undefined
      let written = 0
      let reached: Set<string> | undefined
      for (const user of delivery.users) {
        for (const conn of byUser.of(user)) {
          if (conn.identity.deviceId === delivery.skipDevice) continue
          // An encrypted message reaches each device with only its own ciphertext (docs/e2e.md).
          const frame = encrypted ? conn.codec.encode(forDevice(encrypted, conn.identity.deviceId)) : frames.for(conn.codec)
          if (!conn.sendRaw(frame)) continue
          metrics.deliveries.inc()
          if (delivery.push) (reached ??= new Set()).add(conn.identity.deviceId)
          if (written === 0 && delivery.event.ev === 'message') metrics.deliverySeconds.observe(Math.max(0, deps.clock.now() - Date.parse(delivery.event.ts)) / 1000)
          // Staged: a 5,000-member delivery must not hold the event loop from every other socket.
          if (++written % FANOUT.socketSlice === 0) await new Promise((r) => setImmediate(r))
        }
      }
      // Devices the worker saw connected here but whose socket is gone now: they get a push instead.
      const missed = delivery.push?.filter((d) => !reached?.has(d.device))
      if (missed?.length && delivery.event.ev === 'message') void deps.push.planner?.missed(delivery.event, missed)
    }
  }

  /** device.logout: its sockets here are closed (after the reply to the logout itself has gone out). */
  function closeLoggedOut(gone: DevicePush): void {
    setImmediate(() => {
      for (const conn of byUser.of(gone.user)) {
        if (conn.identity.deviceId === gone.device) conn.ws.close(CLOSE.unauthenticated, 'device logged out')
      }
    })
  }

  async function closeDevice(user: string, device: string): Promise<void> {
    const logout = encodeJson({t: 'batch', logout: [{user, device}]} satisfies NodeMessage)
    const nodes = new Set([config.nodeId])
    for (const [node, routes] of await deps.registry.lookup([user])) if (routes.some((r) => r.deviceId === device)) nodes.add(node)
    for (const node of nodes) deps.bus.publishNode(node, logout)
  }

  function accept(ws: GatewaySocket, identity: Identity): void {
    // Only what ops need: the session was checked at the upgrade and the expiry is on the queue (~90 bytes less per socket).
    const conn = new Connection(ws, {userId: identity.userId, deviceId: identity.deviceId}, ++connections, shared)
    ws.conn = conn
    conn.codec = codecForSubprotocol(ws.protocol)
    all.add(conn)
    metrics.connections.inc()
    metrics.connectsTotal.inc()
    if (identity.expiresAt !== undefined) expiry.add(conn, Math.min(MAX_TIMER_MS, Math.max(0, identity.expiresAt - deps.clock.now())))
    void register(conn)
  }

  // Frames wait until the route is registered, so a client's first sync never misses a message
  // committed after it (the worker looks routes up only after its commit). Local delivery starts in
  // the same tick as `hello`, so `hello` is always the first frame.
  async function register(conn: Connection): Promise<void> {
    const {identity} = conn
    try {
      await deps.registry.add(conn.route)
    } catch (error) {
      logger.warn({err: error}, 'route registration failed; live delivery may lag until the next refresh')
    }
    if (conn.phase === 'closed') {
      runEarlyFrames(conn)
      return unregister(conn)
    }
    conn.phase = 'live'
    deps.presence.connected(identity.userId)
    byUser.add(conn)
    conn.event({
      ev: 'hello',
      user: identity.userId,
      device: identity.deviceId,
      node: config.nodeId,
      heartbeatMs: config.heartbeatMs,
      limits: {maxFrameBytes: LIMITS.maxFrameBytes, maxBodyBytes: LIMITS.maxBodyBytes},
    })
    runEarlyFrames(conn)
  }

  /** Frames that came while the route was being registered, in order (even if the socket closed meanwhile). */
  function runEarlyFrames(conn: Connection): void {
    const early = conn.early
    if (!early) return
    conn.early = undefined
    for (let i = 0; i < early.length; i += 2) void onFrame(conn, early[i] as Buffer, early[i + 1] as boolean)
  }

  async function unregister(conn: Connection): Promise<void> {
    try {
      await deps.registry.remove(conn.route)
      deps.presence.disconnected(conn.identity.userId)
    } catch {
      // The route carries a TTL; the next refresh no longer lists it.
    }
  }

  function onSocketMessage(conn: Connection, data: Buffer, isBinary: boolean): void {
    if (conn.phase === 'registering') (conn.early ??= []).push(data, isBinary)
    else void onFrame(conn, data, isBinary)
  }

  function onSocketPong(conn: Connection): void {
    conn.alive = true
  }

  function onSocketError(_conn: Connection, error: Error): void {
    logger.debug({err: error}, 'socket error')
  }

  function onSocketClose(conn: Connection): void {
    const registered = conn.phase === 'live'
    conn.phase = 'closed'
    expiry.delete(conn)
    all.delete(conn)
    byUser.delete(conn)
    metrics.connections.dec()
    deps.presence.connectionClosed(conn.id)
    // Still registering: register() unregisters it when the registry has answered.
    if (registered) void unregister(conn)
  }

  async function onFrame(conn: Connection, data: Buffer, isBinary: boolean): Promise<void> {
    const decoded: Decoded = conn.codec.decode(data, isBinary)
    if (limits.refuseFrame(conn, decoded.ok ? decoded.request.id : decoded.re)) return
    if (!decoded.ok) {
      // The frame itself is never logged (it may hold a body); its id and the verdict are.
      logger.debug({conn: conn.id, user: conn.identity.userId, reqId: decoded.re, code: decoded.error.code}, 'ws request')
      metrics.frameErrors.inc({code: decoded.error.code})
      conn.replyError(decoded.re, decoded.error)
      if (conn.recordBadFrame(deps.clock.now())) conn.ws.close(CLOSE.policy, 'too many invalid frames')
      return
    }
    const {request} = decoded
    metrics.frames.inc({op: request.op})
    // One child logger per request frame (its id is the frame's id, scoped by the connection); never the args.
    const log = logger.isLevelEnabled('debug') ? logger.child({conn: conn.id, user: conn.identity.userId, reqId: request.id, op: request.op}) : undefined
    const started = deps.clock.now()
    const counted = request.op === 'send' || request.op === 'forward'
    // Ops run concurrently; replies carry `re`, so order between replies is not promised.
    void handleOp(ctx, conn.identity, request, conn.id).then(
      (result) => {
        if (counted) metrics.sends.inc({result: (result as {duplicate?: boolean}).duplicate ? 'duplicate' : 'ok'})
        log?.debug({ms: deps.clock.now() - started}, 'ws request')
        conn.reply(request.id, result)
      },
      (error) => {
        const wire = toWireError(error)
        if (!(error instanceof MsgrError)) (log ?? logger).error({err: error, op: request.op, reqId: request.id}, 'op failed')
        else log?.debug({ms: deps.clock.now() - started, code: wire.code}, 'ws request')
        if (counted) metrics.sends.inc({result: wire.code})
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
    closeDevice,
    draining: () => isDraining,
  }
}
