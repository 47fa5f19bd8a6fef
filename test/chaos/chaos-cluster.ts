import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {randomNamespace, sleep, waitFor} from '../../src/server/local-cluster.js'
import {type MsgrProcess, runMsgr, startMsgr} from '../helpers/processes.js'
import {findServices} from '../helpers/services.js'
import {type PrivateService, startPrivateNats, startPrivatePostgres} from './private-services.js'

// A cluster of real `msgr` processes (the built binary) on a private NATS and Postgres (and the shared
// Redis, in a namespace of its own): two control planes, two gateways, two workers. A small router
// answers GET /v1/connect from whichever control plane is alive, so clients keep finding a gateway
// while control planes die.

export type NodeName = 'cp1' | 'cp2' | 'gw1' | 'gw2' | 'wk1' | 'wk2'

export const JWT_SECRET = 'chaos-secret-chaos-secret-chaos-secret!!'
export const PARTITIONS = 8

export interface ChaosCluster {
  nats: PrivateService
  postgres: PrivateService
  env: Record<string, string>
  /** Base URL clients use for routing (GET /v1/connect): tries each live control plane. */
  routerUrl: string
  node(name: NodeName): MsgrProcess
  /** SIGKILL: nothing finished, nothing released. */
  kill(name: NodeName): Promise<void>
  /** Starts the node again with the same id (a new port). */
  restart(name: NodeName): Promise<void>
  /** The control plane that holds leadership now, if any. */
  leader(): Promise<NodeName | undefined>
  /** Partitions leased by a live worker, summed from the workers' /metrics. */
  partitionsOwned(): Promise<number>
  /** Open WebSocket connections on the live gateways, from their /metrics. */
  connections(): Promise<number>
  stop(): Promise<void>
}

const ROLES: Record<NodeName, string[]> = {
  cp1: ['serve', 'control-plane', '--canary-interval', '0'],
  cp2: ['serve', 'control-plane', '--canary-interval', '0'],
  gw1: ['serve', 'gateway', '--dev'],
  gw2: ['serve', 'gateway', '--dev'],
  wk1: ['serve', 'worker'],
  wk2: ['serve', 'worker'],
}

export async function startChaosCluster(): Promise<ChaosCluster> {
  const redis = (await findServices()).redis
  if (!redis) throw new Error('the chaos suite needs Redis (127.0.0.1:6379 or MSGR_TEST_REDIS_URL)')
  const [nats, postgres] = await Promise.all([startPrivateNats(), startPrivatePostgres()])
  const env: Record<string, string> = {
    MSGR_LOG_FORMAT: 'json',
    MSGR_LOG_LEVEL: 'info',
    MSGR_DATABASE_URL: postgres.url,
    MSGR_NATS_URL: nats.url,
    MSGR_REDIS_URL: redis,
    MSGR_NAMESPACE: randomNamespace('chaos'),
    MSGR_PARTITIONS: String(PARTITIONS),
    MSGR_JWT_SECRET: JWT_SECRET,
    MSGR_RATE_LIMITS: 'off',
    MSGR_PRESENCE: 'off',
  }
  const nodes = new Map<NodeName, MsgrProcess>()
  const start = async (name: NodeName) => {
    nodes.set(name, await startMsgr([...ROLES[name], '--port', '0', '--host', '127.0.0.1', '--node-id', name], env, 60_000))
  }
  let router: Server | undefined
  const stop = async () => {
    await new Promise<void>((resolve) => (router ? router.close(() => resolve()) : resolve()))
    await Promise.all([...nodes.values()].map((n) => n.kill('SIGKILL')))
    await Promise.all([nats.stop(), postgres.stop()])
  }

  try {
    const migrated = await runMsgr(['db', 'migrate'], env)
    if (migrated.code !== 0) throw new Error(`msgr db migrate failed:\n${migrated.stderr}`)
    // cp1 first, so it is the leader the fault test kills.
    await start('cp1')
    await waitFor(async () => (await ready(nodes.get('cp1')!.url))?.leader === true, 20_000, 100)
    await Promise.all((['cp2', 'gw1', 'gw2', 'wk1', 'wk2'] as const).map(start))
    router = createServer((req, res) => {
      void (async () => {
        for (const name of ['cp1', 'cp2'] as const) {
          const proc = nodes.get(name)
          if (!proc || proc.proc.exitCode !== null || proc.proc.signalCode !== null) continue
          try {
            const upstream = await fetch(new URL(req.url ?? '/', proc.url), {signal: AbortSignal.timeout(2000)})
            res.writeHead(upstream.status, {'content-type': 'application/json'}).end(await upstream.text())
            return
          } catch {
            // the next control plane
          }
        }
        res.writeHead(503, {'content-type': 'application/json'}).end(JSON.stringify({error: {code: 'unavailable', message: 'no control plane'}}))
      })()
    })
    await new Promise<void>((resolve) => router!.listen(0, '127.0.0.1', resolve))
  } catch (error) {
    await stop()
    throw error
  }

  const cluster: ChaosCluster = {
    nats,
    postgres,
    env,
    routerUrl: `http://127.0.0.1:${(router!.address() as AddressInfo).port}`,
    node: (name) => nodes.get(name)!,
    async kill(name) {
      await nodes.get(name)!.kill('SIGKILL')
    },
    restart: start,
    async leader() {
      for (const name of ['cp1', 'cp2'] as const) {
        const proc = nodes.get(name)!
        if (proc.proc.exitCode === null && proc.proc.signalCode === null && (await ready(proc.url))?.leader) return name
      }
      return undefined
    },
    partitionsOwned: () => gauge(['wk1', 'wk2'], 'msgr_worker_partitions_owned'),
    connections: () => gauge(['gw1', 'gw2'], 'msgr_ws_connections'),
    stop,
  }
  /** A gauge summed over the live nodes among `names`. */
  async function gauge(names: NodeName[], metric: string): Promise<number> {
    let sum = 0
    for (const name of names) {
      const proc = nodes.get(name)!
      if (proc.proc.exitCode !== null || proc.proc.signalCode !== null) continue
      const text = await fetch(`${proc.url}/metrics`, {signal: AbortSignal.timeout(2000)})
        .then((r) => r.text())
        .catch(() => '')
      sum += Number(new RegExp(`^${metric}\\{[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
    }
    return sum
  }

  await waitFor(async () => (await cluster.partitionsOwned()) === PARTITIONS, 30_000, 200)
  await sleep(500)
  return cluster
}

async function ready(url: string): Promise<{leader?: boolean} | undefined> {
  try {
    const res = await fetch(`${url}/readyz`, {signal: AbortSignal.timeout(2000)})
    return (await res.json()) as {leader?: boolean}
  } catch {
    return undefined
  }
}
