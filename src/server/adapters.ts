import {join} from 'node:path'

import {createMemoryBus} from '../adapters/memory/bus.js'
import {createMemoryDistinctLimiter} from '../adapters/memory/distinct-limiter.js'
import {createMemoryLeaderGroup} from '../adapters/memory/leader.js'
import {createMemoryPresenceStore} from '../adapters/memory/presence-store.js'
import {createMemoryRateLimiter} from '../adapters/memory/rate-limiter.js'
import {createMemoryRegistry} from '../adapters/memory/registry.js'
import {createNatsBus} from '../adapters/nats/bus.js'
import {createMemoryPushQueue} from '../adapters/memory/push-queue.js'
import {createNatsPushQueue} from '../adapters/nats/push-queue.js'
import type {PushQueue} from '../core/push/queue.js'
import {createPgliteSql} from '../adapters/pglite/sql.js'
import {createPostgresLeaderElection} from '../adapters/postgres/leader.js'
import {createPostgresSql} from '../adapters/postgres/sql.js'
import {createRedisDistinctLimiter} from '../adapters/redis/distinct-limiter.js'
import {createRedisPresenceStore} from '../adapters/redis/presence-store.js'
import {createRedisRateLimiter} from '../adapters/redis/rate-limiter.js'
import {createRedisRegistry} from '../adapters/redis/registry.js'
import type {Logger} from '../core/logger.js'
import type {Bus, ConnectionRegistry, DistinctLimiter, LeaderElection, PresenceStore, RateLimiter, Sql} from '../core/ports.js'

// Picks one adapter per port: real services when a URL is given, embedded ones otherwise (only where
// the caller allows embedded defaults, i.e. `msgr serve all`).

export interface Adapters {
  sql: Sql
  bus: Bus
  registry: ConnectionRegistry
  presence: PresenceStore
  /** Per-user rate limits and the duplicate-content rule: shared through Redis when there is one. */
  rateLimiter: RateLimiter
  distinctLimiter: DistinctLimiter
  /** Push notification jobs and their dead letters: JetStream (<NS>_PUSH, <NS>_PUSH_DLQ) or memory. */
  pushQueue: PushQueue
  /** Campaigns for control-plane leadership: an advisory lock on its own Postgres connection, or first in line in this process. */
  leaderElection(candidate: string): LeaderElection
  describe(): Record<string, string>
  close(): Promise<void>
}

export interface AdapterOptions {
  databaseUrl?: string
  redisUrl?: string
  natsUrl?: string
  /** Embedded database directory (PGlite); undefined = in memory. */
  dataDir?: string
  allowEmbedded: boolean
  namespace: string
  ackWaitMs: number
  routeTtlMs: number
  /** Replicas of the JetStream streams (default 1; 3 on a NATS cluster). */
  streamReplicas?: number
  /** Push jobs not acked within this long are handed out again (default 30000). */
  pushAckWaitMs?: number
  nodeId: string
  logger: Logger
}

export async function createAdapters(options: AdapterOptions): Promise<Adapters> {
  const missing = [
    !options.databaseUrl && '--database-url (MSGR_DATABASE_URL)',
    !options.natsUrl && '--nats-url (MSGR_NATS_URL)',
    !options.redisUrl && '--redis-url (MSGR_REDIS_URL)',
  ].filter(Boolean)
  if (!options.allowEmbedded && missing.length > 0) {
    throw new Error(`this role runs on real services: set ${missing.join(', ')}; or use \`msgr serve all\` for the embedded single node`)
  }
  const log = options.logger
  const onError = (component: string) => (error: unknown) => log.warn({err: error, component}, `${component} error`)
  const opened: Array<{close(): Promise<void>}> = []
  try {
    const sql = options.databaseUrl
      ? createPostgresSql({url: options.databaseUrl, applicationName: `msgr:${options.nodeId}`})
      : await createPgliteSql({
          dataDir: options.dataDir ? join(options.dataDir, 'pg') : undefined,
          checkpoint: {
            onError: onError('pglite checkpoint'),
            onCheckpoint: ({walBytes, ms}) => log.info({walBytes, ms: Math.round(ms)}, 'embedded store checkpointed'),
          },
        })
    opened.push(sql)
    const bus = options.natsUrl
      ? await createNatsBus({url: options.natsUrl, namespace: options.namespace, ackWaitMs: options.ackWaitMs, replicas: options.streamReplicas, name: options.nodeId, onError: onError('nats')})
      : createMemoryBus({ackWaitMs: options.ackWaitMs})
    opened.push(bus)
    const registry = options.redisUrl
      ? createRedisRegistry({url: options.redisUrl, namespace: options.namespace, ttlMs: options.routeTtlMs, onError: onError('redis')})
      : createMemoryRegistry({ttlMs: options.routeTtlMs})
    opened.push(registry)
    const presence = options.redisUrl
      ? createRedisPresenceStore({url: options.redisUrl, namespace: options.namespace, onError: onError('redis')})
      : createMemoryPresenceStore()
    opened.push(presence)
    const rateLimiter = options.redisUrl
      ? createRedisRateLimiter({url: options.redisUrl, namespace: options.namespace, onError: onError('redis')})
      : createMemoryRateLimiter()
    opened.push(rateLimiter)
    const distinctLimiter = options.redisUrl
      ? createRedisDistinctLimiter({url: options.redisUrl, namespace: options.namespace, onError: onError('redis')})
      : createMemoryDistinctLimiter()
    opened.push(distinctLimiter)
    const pushQueue = options.natsUrl
      ? await createNatsPushQueue({url: options.natsUrl, namespace: options.namespace, ackWaitMs: options.pushAckWaitMs, replicas: options.streamReplicas, name: options.nodeId, onError: onError('nats push queue')})
      : createMemoryPushQueue({ackWaitMs: options.pushAckWaitMs})
    opened.push(pushQueue)
    const leaders = createMemoryLeaderGroup()
    const elections = new Set<LeaderElection>()
    return {
      sql,
      bus,
      registry,
      presence,
      rateLimiter,
      distinctLimiter,
      pushQueue,
      leaderElection(candidate) {
        const election = options.databaseUrl
          ? createPostgresLeaderElection({url: options.databaseUrl, applicationName: `msgr-leader:${candidate}`, onError: onError('leader election')})
          : leaders.campaign(candidate)
        elections.add(election)
        return election
      },
      describe: () => ({
        database: options.databaseUrl ? redact(options.databaseUrl) : `pglite:${options.dataDir ? join(options.dataDir, 'pg') : 'memory'}`,
        bus: options.natsUrl ? redact(options.natsUrl) : 'memory',
        registry: options.redisUrl ? redact(options.redisUrl) : 'memory',
        rateLimiter: options.redisUrl ? redact(options.redisUrl) : 'memory',
      }),
      async close() {
        // Registry and bus first: the database outlives the last writes that need it.
        for (const election of elections) await election.close().catch(() => {})
        await registry.close().catch(() => {})
        await presence.close().catch(() => {})
        await rateLimiter.close().catch(() => {})
        await distinctLimiter.close().catch(() => {})
        await pushQueue.close().catch(() => {})
        await bus.close().catch(() => {})
        await sql.close().catch(() => {})
      },
    }
  } catch (error) {
    for (const adapter of opened.reverse()) await adapter.close().catch(() => {})
    throw error
  }
}

function redact(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}
