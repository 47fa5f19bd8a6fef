import {randomBytes} from 'node:crypto'
import {connect} from 'node:net'

import {createThrowawayDatabase, type ThrowawayDatabase} from '../adapters/postgres/throwaway.js'
import {silentLogger} from '../core/logger.js'
import {migrate} from '../core/store/migrate.js'
import {type Adapters, createAdapters} from './adapters.js'
import {type NodeConfigInput, parseNodeConfig, type Role} from './config.js'
import {type RunningNode, startNode} from './node.js'

// An in-process cluster of gateway and worker nodes, for integration tests (test/helpers/cluster.ts) and
// benchmarks (bench/cluster.ts): either one embedded adapter set shared by every node, as inside
// `msgr serve all`, or real Postgres/Redis/NATS with one adapter set per node, on a throwaway database and
// a namespace of its own, both removed again by `stop()`.

export type LocalClusterLeg = 'embedded' | 'services'

export interface ServiceUrls {
  postgres: string
  redis: string
  nats: string
}

export interface LocalClusterOptions {
  /** Where the services leg runs; not used by the embedded leg. */
  services?: ServiceUrls
  /** Subjects, stream and Redis keys of this cluster (see randomNamespace). */
  namespace: string
  gateways: number
  workers: number
  /** Default 8. */
  partitions?: number
  /** Start of the throwaway database's name (services leg). */
  databasePrefix: string
  /** Connect timeout towards the Postgres server when creating the throwaway database. */
  databaseConnectTimeoutMs?: number
  /** Adapter timings: stream redelivery and route TTL. */
  ackWaitMs: number
  routeTtlMs: number
  /** Node configuration on top of the fixed part (ids, roles, 127.0.0.1 on a free port, dev mode, namespace, partitions, dev SMS). */
  config: Partial<NodeConfigInput> & {jwtSecret: string}
}

export interface LocalCluster {
  leg: LocalClusterLeg
  namespace: string
  gateways: RunningNode[]
  workers: RunningNode[]
  /** The adapters a node runs on (embedded: one shared set). */
  adaptersOf(node: RunningNode): Adapters
  /** Kills worker `i` abruptly (nothing acked or released) and starts a replacement with the same id. */
  crashAndRestartWorker(i: number, downMs?: number): Promise<void>
  /** Stops the nodes, closes the adapters, drops the throwaway database and deletes the NATS stream. */
  stop(): Promise<void>
}

/** Starts `gateways` gateway + control-plane nodes (`gw<i>`) and `workers` worker nodes (`wk<i>`), and waits until the workers own every partition. */
export async function startLocalCluster(leg: LocalClusterLeg, options: LocalClusterOptions): Promise<LocalCluster> {
  const services = leg === 'services' ? options.services : undefined
  if (leg === 'services' && !services) throw new Error('the services leg needs Postgres, Redis and NATS URLs')
  const {namespace} = options
  const partitions = options.partitions ?? 8
  const logger = silentLogger()
  const database: ThrowawayDatabase | undefined = services
    ? await createThrowawayDatabase(services.postgres, {prefix: options.databasePrefix, connectTimeoutMs: options.databaseConnectTimeoutMs}).catch((error: unknown) => {
        throw new Error(`cannot create a throwaway database: ${error instanceof Error ? error.message || error.name : String(error)}`, {cause: error})
      })
    : undefined
  const adapterSets: Adapters[] = []
  const byNode = new Map<string, Adapters>()
  const gateways: RunningNode[] = []
  const workers: RunningNode[] = []
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
      ackWaitMs: options.ackWaitMs,
      routeTtlMs: options.routeTtlMs,
      pushAckWaitMs: options.config.push?.ackWaitMs,
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
      sms: {sink: 'dev'},
      ...options.config,
    })
    return startNode(config, {adapters, logger})
  }

  const stop = async () => {
    for (const node of [...gateways, ...workers]) await node.stop().catch(() => {})
    for (const adapters of adapterSets) await adapters.close().catch(() => {})
    await database?.drop().catch(() => {})
    if (services) await deleteNatsStream(services.nats, namespace).catch(() => {})
  }

  try {
    await migrate((await adaptersFor('migrate')).sql)
    for (let i = 0; i < options.gateways; i++) gateways.push(await startRole(`gw${i}`, ['gateway', 'control-plane']))
    for (let i = 0; i < options.workers; i++) workers.push(await startRole(`wk${i}`, ['worker']))
    await waitFor(() => workers.reduce((n, w) => n + (w.worker?.ownedPartitions().length ?? 0), 0) === partitions, 15_000)
  } catch (error) {
    await stop()
    throw error
  }

  return {
    leg,
    namespace,
    gateways,
    workers,
    adaptersOf: (node) => byNode.get(node.config.nodeId)!,
    async crashAndRestartWorker(i, downMs = 0) {
      const old = workers[i]!
      await old.crash()
      // A crashed process takes its connections with it: un-acked stream messages return after the ack wait.
      if (leg === 'services') await byNode.get(old.config.nodeId)!.close()
      await sleep(downMs)
      workers[i] = await startRole(old.config.nodeId, ['worker'])
    },
    stop,
  }
}

/** `prefix` and 10 random hex digits: a namespace for NATS streams/subjects and Redis keys no one else uses. */
export function randomNamespace(prefix: string): string {
  return `${prefix}${randomBytes(5).toString('hex')}`
}

/** Removes the ingest stream a namespace created on a shared NATS server. */
export async function deleteNatsStream(natsUrl: string, namespace: string): Promise<void> {
  const {connect: natsConnect} = await import('@nats-io/transport-node')
  const {jetstreamManager} = await import('@nats-io/jetstream')
  const nc = await natsConnect({servers: natsUrl})
  try {
    const jsm = await jetstreamManager(nc)
    for (const stream of ['INGEST', 'PUSH', 'PUSH_DLQ']) await jsm.streams.delete(`${namespace.toUpperCase()}_${stream}`).catch(() => false)
  } finally {
    await nc.close()
  }
}

/** True when a TCP connection to host:port opens within half a second. */
export function portOpen(host: string, port: number): Promise<boolean> {
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

/** Polls `predicate` every `stepMs` until it holds; throws after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(stepMs)
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
