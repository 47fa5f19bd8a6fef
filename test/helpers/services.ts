import {createThrowawayDatabase, type ThrowawayDatabase} from '../../src/adapters/postgres/throwaway.js'
import {portOpen, randomNamespace} from '../../src/server/local-cluster.js'

export {deleteNatsStream} from '../../src/server/local-cluster.js'

// Finds the real services for integration tests: env URL first, then the standard local port, then
// testcontainers. With MSGR_REQUIRE_SERVICES=1 (CI) a missing service fails the run; without it the
// real-service legs are skipped with a loud notice and the embedded legs still run.

export type ServiceName = 'postgres' | 'redis' | 'nats'

export interface Services {
  postgres?: string
  redis?: string
  nats?: string
}

const ENV: Record<ServiceName, string> = {
  postgres: 'MSGR_TEST_DATABASE_URL',
  redis: 'MSGR_TEST_REDIS_URL',
  nats: 'MSGR_TEST_NATS_URL',
}
const LOCAL: Record<ServiceName, {port: number; url: string}> = {
  postgres: {port: 5432, url: 'postgres://postgres@127.0.0.1:5432/postgres'},
  redis: {port: 6379, url: 'redis://127.0.0.1:6379'},
  nats: {port: 4222, url: 'nats://127.0.0.1:4222'},
}

export const requireServices = process.env.MSGR_REQUIRE_SERVICES === '1'

let cached: Promise<Services> | undefined

export function findServices(): Promise<Services> {
  cached ??= discover()
  return cached
}

/** True when every named service is reachable; otherwise throws (CI) or warns loudly (local). */
export async function haveServices(...names: ServiceName[]): Promise<boolean> {
  const services = await findServices()
  const missing = names.filter((name) => !services[name])
  if (missing.length === 0) return true
  const message = `real-service tests need ${missing.join(', ')}: set ${missing.map((m) => ENV[m]).join(', ')} or start them locally`
  if (requireServices) throw new Error(`MSGR_REQUIRE_SERVICES=1 and ${message}`)
  console.warn(`\n!!! SKIPPING real-service tests — ${message}\n`)
  return false
}

async function discover(): Promise<Services> {
  const entries = await Promise.all(
    (Object.keys(ENV) as ServiceName[]).map(async (name) => [name, await locate(name)] as const),
  )
  return Object.fromEntries(entries.filter(([, url]) => url !== undefined)) as Services
}

async function locate(name: ServiceName): Promise<string | undefined> {
  const fromEnv = process.env[ENV[name]]
  if (fromEnv) return fromEnv
  if (await portOpen('127.0.0.1', LOCAL[name].port)) return LOCAL[name].url
  return fromContainer(name)
}

async function fromContainer(name: ServiceName): Promise<string | undefined> {
  try {
    const {GenericContainer} = await import('testcontainers')
    const spec: {image: string; port: number; env: Record<string, string>; url: (h: string, p: number) => string} = {
      postgres: {image: 'postgres:16-alpine', port: 5432, env: {POSTGRES_HOST_AUTH_METHOD: 'trust'}, url: (h: string, p: number) => `postgres://postgres@${h}:${p}/postgres`},
      redis: {image: 'redis:7-alpine', port: 6379, env: {}, url: (h: string, p: number) => `redis://${h}:${p}`},
      nats: {image: 'nats:2.9-alpine', port: 4222, env: {}, url: (h: string, p: number) => `nats://${h}:${p}`},
    }[name]
    let container = new GenericContainer(spec.image).withExposedPorts(spec.port).withEnvironment(spec.env)
    if (name === 'nats') container = container.withCommand(['-js'])
    const started = await container.start()
    return spec.url(started.getHost(), started.getMappedPort(spec.port))
  } catch {
    return undefined
  }
}

/** A fresh, empty database on the test Postgres server; `drop()` removes it. */
export function createTestDatabase(adminUrl: string): Promise<ThrowawayDatabase> {
  return createThrowawayDatabase(adminUrl, {prefix: 'msgr_t_'})
}

/** A namespace for NATS streams/subjects and Redis keys, unique to one test suite. */
export function testNamespace(): string {
  return randomNamespace('t')
}
