import {randomInt} from 'node:crypto'

import {type MsgrClient as Client, loginWithDevOtp, MsgrClient, type TokenPair} from '../../src/client/client.js'
import type {Adapters} from '../../src/server/adapters.js'
import type {NodeConfigInput} from '../../src/server/config.js'
import {startLocalCluster} from '../../src/server/local-cluster.js'
import type {RunningNode} from '../../src/server/node.js'
import {findServices, haveServices, testNamespace} from './services.js'

export {sleep, waitFor} from '../../src/server/local-cluster.js'

// In-process clusters for integration tests, on either adapter set, always spoken to through real
// HTTP and WebSocket clients. The cluster itself is src/server/local-cluster.ts (bench/cluster.ts runs it too).

export type Leg = 'embedded' | 'services'

export const LEGS: Leg[] = ['embedded', 'services']

/** True when the leg can run here (services: all three reachable; throws in CI when they are not). */
export async function legAvailable(leg: Leg): Promise<boolean> {
  return leg === 'embedded' ? true : haveServices('postgres', 'redis', 'nats')
}

/** legAvailable for every leg, for `describe.runIf(available[leg])` under `describe.each(LEGS)`. */
export async function availableLegs(): Promise<Record<Leg, boolean>> {
  return Object.fromEntries(await Promise.all(LEGS.map(async (leg) => [leg, await legAvailable(leg)] as const))) as Record<Leg, boolean>
}

export type TestUser = TokenPair & {phone: string}

export interface ClusterOptions {
  gateways?: number
  workers?: number
  partitions?: number
  config?: Partial<NodeConfigInput>
}

export interface TestCluster {
  leg: Leg
  gateways: RunningNode[]
  workers: RunningNode[]
  /** A new user (random phone) with a new device, logged in through the dev OTP endpoint. */
  login(phone?: string, device?: string, gateway?: number): Promise<TestUser>
  connect(pair: TokenPair, gateway?: number): Promise<Client>
  /** The adapters a node runs on (embedded: one shared set). */
  adaptersOf(node: RunningNode): Adapters
  /** Kills worker `i` abruptly (nothing acked or released) and starts a replacement with the same id. */
  crashAndRestartWorker(i: number, downMs?: number): Promise<void>
  stop(): Promise<void>
}

const JWT_SECRET = 'test-secret-test-secret-test-secret-test'

export async function startCluster(leg: Leg, options: ClusterOptions = {}): Promise<TestCluster> {
  const found = leg === 'services' ? await findServices() : undefined
  const cluster = await startLocalCluster(leg, {
    services: found && {postgres: found.postgres!, redis: found.redis!, nats: found.nats!},
    namespace: testNamespace(),
    gateways: options.gateways ?? 1,
    workers: options.workers ?? 1,
    partitions: options.partitions,
    databasePrefix: 'msgr_t_',
    ackWaitMs: 2000,
    routeTtlMs: 30_000,
    config: {
      jwtSecret: JWT_SECRET,
      ackWaitMs: 2000,
      leaseTtlMs: 3000,
      nodeHeartbeatMs: 500,
      sendTimeoutMs: 8000,
      shutdownGraceMs: 2000,
      // Suites drive traffic far above one user's budget; test/integration/rate-limits.test.ts turns them on.
      rateLimits: {enabled: false},
      // The canary's own connections would skew suites that count them; test/integration/canary.test.ts turns it on.
      canary: {intervalMs: 0},
      ...options.config,
    },
  })
  const {gateways, workers} = cluster
  const clients: Client[] = []

  return {
    leg,
    gateways,
    workers,
    async login(phone = randomPhone(), device = 'test-device', gateway = 0) {
      return {...(await loginWithDevOtp(gateways[gateway]!.url, phone, {name: device, platform: 'test'})), phone}
    },
    async connect(pair, gateway = 0) {
      const client = await MsgrClient.connect(gateways[gateway]!.url, pair.accessToken)
      clients.push(client)
      await client.waitForEvent((e) => e.ev === 'hello')
      return client
    },
    adaptersOf: cluster.adaptersOf,
    crashAndRestartWorker: cluster.crashAndRestartWorker,
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})))
      await cluster.stop()
    },
  }
}

// A random start, then a counter: distinct within a process (2,000 independent draws from 10^7 collide one run in five,
// and two concurrent logins of one phone consume each other's code). Clusters get their own databases per process.
let nextPhone = randomInt(0, 10_000_000)

export function randomPhone(): string {
  nextPhone = (nextPhone + 1) % 10_000_000
  return `+1555${String(nextPhone).padStart(7, '0')}`
}
