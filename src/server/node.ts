import type {Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {createAuthService} from '../core/auth/auth-service.js'
import {createDevSmsSink, createLogSmsSink, createWebhookSmsSink, type SmsSink} from '../core/auth/sms.js'
import type {Logger} from '../core/logger.js'
import {type Clock, systemClock} from '../core/ports.js'
import {adminRoutes, gatewayWsUrl} from '../control-plane/admin-api.js'
import {chooseGateway} from '../control-plane/gateway-routing.js'
import {type DrainRequest, heartbeatNode, listNodes, markNodeStopped, registerNode} from '../control-plane/node-registry.js'
import {MsgrError} from '../errors.js'
import type {Adapters} from './adapters.js'
import type {NodeConfig} from './config.js'
import {type ControlPlaneRole, startControlPlaneRole} from './control-plane-role.js'
import {createFanoutPublisher} from './fanout-publisher.js'
import {createSessionVerifier} from './gateway/access-tokens.js'
import {authRoutes} from './gateway/auth-routes.js'
import {createGateway, type Gateway} from './gateway/gateway.js'
import {createPresenceService} from './gateway/presence.js'
import {createRouter, HANDLED, HttpResult, type Route} from './http.js'
import {createMediaService, type MediaService} from './media/service.js'
import {instrumentBus, instrumentSql} from './instrumented.js'
import {createMetrics, type Metrics} from './metrics.js'
import {createNodeServer, schemes} from './tls.js'
import {createWorker, type Worker} from './worker/worker.js'
import {createNotifier, type Notifier} from './push/notifier.js'
import {createPushPlanner} from './push/planner.js'
import {configuredProviders, createProviders} from './push/providers.js'

// Assembles one process from its roles and adapters: same code for `serve all` and the split roles.

export interface RunningNode {
  config: NodeConfig
  port: number
  /** Base URL of this node's HTTP server, e.g. http://127.0.0.1:8080 */
  url: string
  metrics: Metrics
  gateway?: Gateway
  worker?: Worker
  /** Control-plane nodes: leadership among the control-plane replicas and the canary. */
  controlPlane?: ControlPlaneRole
  /** Graceful stop: clients told to reconnect, batches finished, leases released. */
  stop(): Promise<void>
  /** Abrupt stop for fault tests: nothing finished, nothing released. */
  crash(): Promise<void>
}

export interface NodeDeps {
  adapters: Adapters
  logger: Logger
  clock?: Clock
}

export async function startNode(config: NodeConfig, deps: NodeDeps): Promise<RunningNode> {
  const {logger} = deps
  const clock = deps.clock ?? systemClock
  const metrics = createMetrics({node: config.nodeId})
  // Every role of this node talks to the database and the bus through these, so their failures are counted.
  const adapters: Adapters = {...deps.adapters, sql: instrumentSql(deps.adapters.sql, metrics), bus: instrumentBus(deps.adapters.bus, metrics)}
  const {sql, bus, registry} = adapters
  const scheme = schemes(config.tls !== undefined)
  // Push planning rides on every fanout of this node: offline devices get jobs queued before the batch is acked.
  const pushPlanner = config.push.enabled ? createPushPlanner({sql, queue: adapters.pushQueue, metrics, logger: logger.child({role: 'push'})}) : undefined
  const fanout = createFanoutPublisher({bus, registry, metrics, logger, push: pushPlanner})
  const has = (role: NodeConfig['roles'][number]) => config.roles.includes(role)
  const routes: Route[] = []
  let dbHealthy = true
  let stopping = false

  let worker: Worker | undefined
  if (has('worker')) worker = createWorker(config, {sql, bus, fanout, logger: logger.child({role: 'worker'}), metrics, clock})
  // The notification worker runs beside the message worker (docs/push.md).
  let notifier: Notifier | undefined
  if (has('worker') && config.push.enabled) {
    const pushLogger = logger.child({role: 'push'})
    notifier = createNotifier(config.push, {sql, queue: adapters.pushQueue, providers: createProviders(config.push, pushLogger), rateLimiter: adapters.rateLimiter, metrics, logger: pushLogger, clock})
  }

  let gateway: Gateway | undefined
  let media: MediaService | undefined
  if (has('gateway')) {
    const auth = createAuthService({
      sql,
      sms: smsSink(config, deps),
      jwtSecret: config.jwtSecret!,
      accessTtlSec: config.accessTtlSec,
      refreshTtlSec: config.refreshTtlSec,
      fixedOtp: config.fixedOtp,
      clock,
      logger,
      // A stolen refresh token was used: the thief's (and the owner's) sockets of that device go at once, not at token expiry.
      onSessionRevoked: ({userId, deviceId}) => void gateway?.closeDevice(userId, deviceId).catch((error) => logger.warn({err: error}, 'closing a revoked device failed')),
    })
    const presence = createPresenceService({sql, registry, store: adapters.presence, fanout, clock, logger, mode: config.presence})
    const verifyAccessToken = createSessionVerifier(auth)
    gateway = createGateway(config, {
      sql,
      bus,
      registry,
      fanout,
      rateLimiter: adapters.rateLimiter,
      distinctLimiter: adapters.distinctLimiter,
      presence,
      push: {providers: configuredProviders(config.push), planner: pushPlanner},
      verifyAccessToken,
      logger: logger.child({role: 'gateway'}),
      metrics,
      clock,
    })
    routes.push(...authRoutes(auth, {devOtp: config.dev && config.sms.sink === 'dev'}))
    media = await createMediaService(config.media, {sql, verifyAccessToken, logger: logger.child({role: 'gateway'})})
    routes.push(...media.routes)
  }

  let controlPlane: ControlPlaneRole | undefined
  if (has('control-plane')) {
    const livenessMs = Math.max(config.nodeHeartbeatMs * 3, 1500)
    controlPlane = startControlPlaneRole(config, {adapters, metrics, logger: logger.child({role: 'control-plane'}), livenessMs, clock})
    routes.push(...adminRoutes(sql, {livenessMs, adminToken: config.adminToken, partitions: config.partitions, clock, canary: controlPlane.canary.report}))
    if (!config.adminToken && !config.dev) logger.warn('no --admin-token: the admin API (/v1/admin/*) is open to anyone who can reach this port')
  }

  const checks = () => ({
    database: dbHealthy,
    bus: bus.healthy(),
    accepting: !stopping && !draining && !(gateway?.draining() ?? false),
    ...controlPlane?.readyChecks(),
  })
  routes.push(
    {method: 'GET', path: '/healthz', handler: () => ({status: 'ok', node: config.nodeId, roles: config.roles})},
    {
      method: 'GET',
      path: '/readyz',
      handler: () => {
        const c = checks()
        const ready = Object.values(c).every(Boolean)
        // Without the registry, sends and reads still work and clients catch up by sync: degraded, not down.
        const degraded = registry.healthy() ? [] : ['registry']
        return new HttpResult(ready ? 200 : 503, {status: ready ? 'ready' : 'not_ready', node: config.nodeId, ...controlPlane?.readyInfo(), checks: {...c, registry: degraded.length === 0}, degraded})
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      handler: async ({res}) => {
        const text = await metrics.registry.metrics()
        res.writeHead(200, {'content-type': metrics.registry.contentType}).end(text)
        return HANDLED
      },
    },
  )

  const router = createRouter(routes, (error, reqId) => logger.error({err: error, reqId}, 'http handler failed'), {logger, metrics})
  const server: Server = createNodeServer(config.tls, (req, res) => void router(req, res))
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {})
    const path = new URL(req.url ?? '/', 'http://local').pathname
    if (gateway && path === '/v1/ws') return gateway.handleUpgrade(req, socket, head)
    const body = JSON.stringify({error: new MsgrError('not_found', 'no WebSocket endpoint here; use /v1/ws on a gateway').toWire()})
    socket.end(`HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  })
  server.keepAliveTimeout = 65_000

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port, config.host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  const url = `${scheme.http}://${host}:${port}`
  const address = config.advertise ?? `${host}:${port}`

  await registerNode(sql, {id: config.nodeId, roles: config.roles, address, version: config.version, stats: {tls: config.tls !== undefined}})
  gateway?.start()
  await worker?.start()
  await notifier?.start()

  // Operator drain: the control plane marks this node 'draining'; the node sees it on its heartbeat,
  // stops taking connections, moves its clients and hands its partitions back, and reports `drained`.
  let draining: DrainRequest | undefined
  const startDrain = async (request: DrainRequest) => {
    draining = request
    logger.info({drain: request}, 'draining')
    worker?.setDraining(true)
    if (!gateway) return
    // Without a node list the clients still go (they pick another gateway themselves): never stall a drain.
    const others = await listNodes(sql, Math.max(config.nodeHeartbeatMs * 3, 1500))
      .then((nodes) => nodes.filter((n) => n.id !== config.nodeId))
      .catch(() => [])
    const target = (user: string) => {
      const choice = chooseGateway(others, user)
      return choice ? gatewayWsUrl(choice.address, choice.tls) : undefined
    }
    await gateway.drain({deadlineAt: Date.parse(request.deadlineAt), force: request.force, reason: request.reason}, target)
  }
  const stopDrain = () => {
    draining = undefined
    logger.info('drain cancelled; taking traffic again')
    worker?.setDraining(false)
    gateway?.undrain()
  }

  const beat = async () => {
    try {
      const connections = gateway?.connectionCount() ?? 0
      const partitions = worker?.ownedPartitions().length ?? 0
      const own = await heartbeatNode(sql, config.nodeId, {
        connections,
        partitions,
        queued: worker?.stats().queued ?? 0,
        stored: worker?.stats().stored ?? 0,
        rssBytes: process.memoryUsage.rss(),
        cpu: process.cpuUsage(),
        uptimeSec: Math.round(process.uptime()),
        draining: draining !== undefined,
        // Clients of this gateway connect with wss:// (routing and drain targets read it).
        tls: config.tls !== undefined,
        drained: draining !== undefined && connections === 0 && partitions === 0,
        ...controlPlane?.stats(),
      })
      dbHealthy = true
      // A new request (drain → undrain → drain within one heartbeat) replaces the one in progress.
      if (own?.state === 'draining' && own.drain && own.drain.requestedAt !== draining?.requestedAt) {
        const request = own.drain
        startDrain(request).catch((error) => {
          logger.error({err: error}, 'drain failed; retrying on the next heartbeat')
          if (draining === request) draining = undefined
        })
      } else if (own?.state === 'active' && draining) {
        stopDrain()
      }
    } catch (error) {
      dbHealthy = false
      logger.warn({err: error}, 'node heartbeat failed')
    }
  }
  const heartbeat = setInterval(() => void beat(), config.nodeHeartbeatMs)
  logger.info({node: config.nodeId, roles: config.roles, url, adapters: adapters.describe()}, 'msgr node ready')

  const closeServer = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })

  return {
    config,
    port,
    url,
    metrics,
    gateway,
    worker,
    controlPlane,
    async stop() {
      if (stopping) return
      stopping = true
      clearInterval(heartbeat)
      await controlPlane?.close()
      await gateway?.stop('shutdown')
      await worker?.stop()
      await notifier?.stop()
      await closeServer()
      await media?.close()
      await markNodeStopped(sql, config.nodeId).catch(() => {})
      logger.info({node: config.nodeId}, 'msgr node stopped')
    },
    async crash() {
      stopping = true
      clearInterval(heartbeat)
      // The process is gone: so is its leader connection, and with it the lock.
      await controlPlane?.close()
      gateway?.abort()
      await worker?.crash()
      await notifier?.stop()
      await closeServer()
    },
  }
}

function smsSink(config: NodeConfig, deps: NodeDeps): SmsSink {
  switch (config.sms.sink) {
    case 'dev':
      return createDevSmsSink(deps.adapters.sql, deps.logger)
    case 'webhook':
      return createWebhookSmsSink({url: config.sms.webhookUrl!})
    case 'log':
      return createLogSmsSink(deps.logger)
  }
}
