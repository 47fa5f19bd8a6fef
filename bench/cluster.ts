import {randomBytes} from 'node:crypto'
import {connect} from 'node:net'

import {silentLogger} from '../src/core/logger.js'
import {migrate} from '../src/core/store/migrate.js'
import {type Adapters, createAdapters} from '../src/server/adapters.js'
import {parseNodeConfig, type Role} from '../src/server/config.js'
import {type RunningNode, startNode} from '../src/server/node.js'
import {adminUrl, createThrowawayDatabase} from './pg-database.js'

// An in-process cluster for benchmarks, started the way test/helpers/cluster.ts does (that file is not
// compiled into dist/, so the few lines needed live here): gateways and workers on either one shared
// embedded adapter set, or on real Postgres/Redis/NATS with one adapter set per node.

export type Leg = 'embedded' | 'services'

export interface ServiceUrls {
  postgres: string
  redis: string
  nats: string
}

export interface BenchCluster {
  leg: Leg
  /** What the nodes run on, for the table title. */
  detail: string
  gateways: RunningNode[]
  workers: RunningNode[]
  adaptersOf(node: RunningNode): Adapters
  /** Stops the nodes, closes the adapters, drops the throwaway database and deletes the NATS stream. */
  stop(): Promise<void>
}

export interface BenchClusterOptions {
  gateways: number
  workers: number
  partitions?: number
}

const JWT_SECRET = 'bench-secret-bench-secret-bench-secret!'

export async function startBenchCluster(leg: Leg, options: BenchClusterOptions, services?: ServiceUrls): Promise<BenchCluster> {
  if (leg === 'services' && !services) throw new Error('the services leg needs Postgres, Redis and NATS URLs')
  const namespace = `b${randomBytes(5).toString('hex')}`
  const partitions = options.partitions ?? 8
  const logger = silentLogger()
  const database = leg === 'services' ? await createThrowawayDatabase(services!.postgres) : undefined
  if (database && 'error' in database) throw new Error(`cannot create a throwaway database: ${database.error}`)
  const adapterSets: Adapters[] = []
  const byNode = new Map<string, Adapters>()
  const nodes: RunningNode[] = []
  let shared: Adapters | undefined

  const adaptersFor = async (nodeId: string): Promise<Adapters> => {
    // Embedded: one set shared by every node, as inside `msgr serve all`.
    if (leg === 'embedded' && shared) return shared
    const adapters = await createAdapters({
      databaseUrl: database?.url,
      natsUrl: services?.nats,
      redisUrl: services?.redis,
      allowEmbedded: leg === 'embedded',
      namespace,
      ackWaitMs: 10_000,
      routeTtlMs: 90_000,
      nodeId,
      logger,
    })
    adapterSets.push(adapters)
    if (leg === 'embedded') shared = adapters
    return adapters
  }

  const startRole = async (nodeId: string, roles: Role[]): Promise<RunningNode> => {
    const adapters = await adaptersFor(nodeId)
    byNode.set(nodeId, adapters)
    const config = parseNodeConfig({
      nodeId,
      roles,
      host: '127.0.0.1',
      port: 0,
      dev: true,
      namespace,
      partitions,
      jwtSecret: JWT_SECRET,
      sms: {sink: 'dev'},
      nodeHeartbeatMs: 1000,
      shutdownGraceMs: 2000,
      // Benchmarks measure throughput far above one user's budget.
      rateLimits: {enabled: false},
    })
    const node = await startNode(config, {adapters, logger})
    nodes.push(node)
    return node
  }

  const stop = async () => {
    for (const node of nodes) await node.stop().catch(() => {})
    for (const adapters of adapterSets) await adapters.close().catch(() => {})
    if (database && !('error' in database)) await database.drop().catch(() => {})
    if (services) await deleteNatsStream(services.nats, namespace).catch(() => {})
  }

  try {
    await migrate((await adaptersFor('migrate')).sql)
    const gateways: RunningNode[] = []
    for (let i = 0; i < options.gateways; i++) gateways.push(await startRole(`gw${i}`, ['gateway', 'control-plane']))
    const workers: RunningNode[] = []
    for (let i = 0; i < options.workers; i++) workers.push(await startRole(`wk${i}`, ['worker']))
    await waitFor(() => workers.reduce((n, w) => n + (w.worker?.ownedPartitions().length ?? 0), 0) === partitions, 15_000)
    const detail =
      leg === 'embedded'
        ? `${options.gateways} gateways + ${options.workers} worker, one shared embedded set: PGlite in memory, memory bus, memory registry`
        : `${options.gateways} gateways + ${options.workers} worker, each with its own Postgres pool, NATS connection and Redis client`
    return {leg, detail, gateways, workers, adaptersOf: (node) => byNode.get(node.config.nodeId)!, stop}
  } catch (error) {
    await stop()
    throw error
  }
}

/**
 * Postgres, Redis and NATS for the services leg: MSGR_BENCH_*, then MSGR_TEST_*, then the local default
 * ports. Returns the URLs, or which ones could not be reached.
 */
export async function findServices(env: NodeJS.ProcessEnv = process.env): Promise<{urls: ServiceUrls} | {missing: string[]}> {
  const urls: ServiceUrls = {
    postgres: adminUrl(env),
    redis: env.MSGR_BENCH_REDIS_URL ?? env.MSGR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    nats: env.MSGR_BENCH_NATS_URL ?? env.MSGR_TEST_NATS_URL ?? 'nats://127.0.0.1:4222',
  }
  const defaults: Record<keyof ServiceUrls, number> = {postgres: 5432, redis: 6379, nats: 4222}
  const missing: string[] = []
  for (const name of Object.keys(urls) as Array<keyof ServiceUrls>) {
    const url = new URL(urls[name])
    if (!(await portOpen(url.hostname, Number(url.port) || defaults[name]))) missing.push(`${name} (${url.host})`)
  }
  return missing.length === 0 ? {urls} : {missing}
}

export async function waitFor(predicate: () => boolean, timeoutMs: number, stepMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({port, host})
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** Removes the ingest stream this cluster's namespace created on the shared NATS server. */
async function deleteNatsStream(natsUrl: string, namespace: string): Promise<void> {
  const {connect: natsConnect} = await import('@nats-io/transport-node')
  const {jetstreamManager} = await import('@nats-io/jetstream')
  const nc = await natsConnect({servers: natsUrl})
  try {
    const jsm = await jetstreamManager(nc)
    await jsm.streams.delete(`${namespace.toUpperCase()}_INGEST`).catch(() => false)
  } finally {
    await nc.close()
  }
}
