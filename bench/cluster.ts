import type {Adapters} from '../src/server/adapters.js'
import {type LocalClusterLeg, portOpen, randomNamespace, type ServiceUrls, startLocalCluster} from '../src/server/local-cluster.js'
import type {RunningNode} from '../src/server/node.js'
import {adminUrl} from './pg-database.js'

export {waitFor} from '../src/server/local-cluster.js'
export type {ServiceUrls} from '../src/server/local-cluster.js'

// An in-process cluster for benchmarks (src/server/local-cluster.ts, as test/helpers/cluster.ts starts
// it): gateways and workers on either one shared embedded adapter set, or on real Postgres/Redis/NATS
// with one adapter set per node.

export type Leg = LocalClusterLeg

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
  const cluster = await startLocalCluster(leg, {
    services,
    namespace: randomNamespace('b'),
    gateways: options.gateways,
    workers: options.workers,
    partitions: options.partitions,
    databasePrefix: 'msgr_bench_',
    databaseConnectTimeoutMs: 3000,
    ackWaitMs: 10_000,
    routeTtlMs: 90_000,
    config: {
      jwtSecret: JWT_SECRET,
      nodeHeartbeatMs: 1000,
      shutdownGraceMs: 2000,
      // Benchmarks measure throughput far above one user's budget.
      rateLimits: {enabled: false},
      // The canary's probe messages would be counted as deliveries.
      canary: {intervalMs: 0},
    },
  })
  const detail =
    leg === 'embedded'
      ? `${options.gateways} gateways + ${options.workers} worker, one shared embedded set: PGlite in memory, memory bus, memory registry`
      : `${options.gateways} gateways + ${options.workers} worker, each with its own Postgres pool, NATS connection and Redis client`
  return {leg, detail, gateways: cluster.gateways, workers: cluster.workers, adaptersOf: cluster.adaptersOf, stop: cluster.stop}
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
