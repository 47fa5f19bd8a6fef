import {randomInt} from 'node:crypto'

import {type MsgrClient as Client, loginWithDevOtp, MsgrClient, type TokenPair} from '../../src/client/client.js'
import {silentLogger} from '../../src/core/logger.js'
import {migrate} from '../../src/core/store/migrate.js'
import {type Adapters, createAdapters} from '../../src/server/adapters.js'
import {type NodeConfigInput, parseNodeConfig, type Role} from '../../src/server/config.js'
import {type RunningNode, startNode} from '../../src/server/node.js'
import {createTestDatabase, deleteNatsStream, findServices, haveServices, testNamespace} from './services.js'

// In-process clusters for integration tests, on either adapter set, always spoken to through real
// HTTP and WebSocket clients.

export type Leg = 'embedded' | 'services'

export const LEGS: Leg[] = ['embedded', 'services']

/** True when the leg can run here (services: all three reachable; throws in CI when they are not). */
export async function legAvailable(leg: Leg): Promise<boolean> {
  return leg === 'embedded' ? true : haveServices('postgres', 'redis', 'nats')
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
  const namespace = testNamespace()
  const partitions = options.partitions ?? 8
  const services = leg === 'services' ? await findServices() : {}
  const database = leg === 'services' ? await createTestDatabase(services.postgres!) : undefined
  const logger = silentLogger()
  const adapterSets: Adapters[] = []
  const byNode = new Map<string, Adapters>()
  const clients: Client[] = []
  let shared: Adapters | undefined

  const adaptersFor = async (nodeId: string): Promise<Adapters> => {
    // Embedded: one set shared by every node, as inside `msgr serve all`.
    if (leg === 'embedded' && shared) return shared
    const adapters = await createAdapters({
      databaseUrl: database?.url,
      natsUrl: services.nats,
      redisUrl: services.redis,
      allowEmbedded: leg === 'embedded',
      namespace,
      ackWaitMs: 2000,
      routeTtlMs: 30_000,
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
    })
    return startNode(config, {adapters, logger})
  }

  await migrate((await adaptersFor('migrate')).sql)
  const gateways: RunningNode[] = []
  for (let i = 0; i < (options.gateways ?? 1); i++) gateways.push(await startRole(`gw${i}`, ['gateway', 'control-plane']))
  const workers: RunningNode[] = []
  for (let i = 0; i < (options.workers ?? 1); i++) workers.push(await startRole(`wk${i}`, ['worker']))
  await waitFor(() => workers.reduce((n, w) => n + (w.worker?.ownedPartitions().length ?? 0), 0) === partitions, 15_000)

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
    adaptersOf: (node) => byNode.get(node.config.nodeId)!,
    async crashAndRestartWorker(i, downMs = 0) {
      const old = workers[i]!
      await old.crash()
      // A crashed process takes its connections with it: un-acked stream messages return after the ack wait.
      if (leg === 'services') await byNode.get(old.config.nodeId)!.close()
      await sleep(downMs)
      workers[i] = await startRole(old.config.nodeId, ['worker'])
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})))
      for (const node of [...gateways, ...workers]) await node.stop().catch(() => {})
      for (const adapters of adapterSets) await adapters.close().catch(() => {})
      await database?.drop().catch(() => {})
      if (services.nats) await deleteNatsStream(services.nats, namespace).catch(() => {})
    },
  }
}

export function randomPhone(): string {
  return `+1555${String(randomInt(0, 10_000_000)).padStart(7, '0')}`
}

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
