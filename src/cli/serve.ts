import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'

import {createLogger} from '../core/logger.js'
import {canaryConfigFromFlags, type CanaryFlagValues} from './canary-flags.js'
import {mediaConfigFromFlags, type MediaFlagValues} from './media-flags.js'
import {pushConfigFromFlags, type PushFlagValues} from './push-flags.js'
import {assertMigrated, migrate} from '../core/store/migrate.js'
import {createAdapters} from '../server/adapters.js'
import {defaultNodeId, parseNodeConfig, type Role} from '../server/config.js'
import {startNode} from '../server/node.js'
import {readTlsFiles} from '../server/tls.js'

// Shared body of every `msgr serve …` command: config, adapters, migrations, node, signals.

export interface ServeFlags extends MediaFlagValues, CanaryFlagValues, PushFlagValues {
  port: number
  host: string
  advertise?: string
  'node-id'?: string
  namespace: string
  partitions: number
  'jwt-secret'?: string
  dev: boolean
  'log-level': string
  'log-format'?: string
  migrate: boolean
  'sms-sink'?: string
  'sms-webhook-url'?: string
  'send-timeout': number
  'batch-linger': number
  heartbeat?: number
  'access-ttl'?: number
  'refresh-ttl'?: number
  'ws-compression': boolean
  'tls-cert'?: string
  'tls-key'?: string
  'admin-token'?: string
  'rate-limits': string
  'max-connections-per-user': number
  presence: string
  'database-url'?: string
  'nats-url'?: string
  'redis-url'?: string
  'stream-replicas'?: number
  'data-dir'?: string
}

export async function serve(roles: Role[], flags: ServeFlags, options: {embedded: boolean; version: string}): Promise<void> {
  const logger = createLogger({level: flags['log-level'], pretty: (flags['log-format'] ?? (flags.dev ? 'pretty' : 'json')) === 'pretty'})
  const dataDir = options.embedded ? resolve(flags['data-dir'] ?? '.msgr') : undefined
  if (dataDir) mkdirSync(dataDir, {recursive: true})
  const name = roles.length > 1 ? 'all' : roles[0]!
  const config = parseNodeConfig({
    nodeId: flags['node-id'] ?? defaultNodeId(name, flags.port),
    roles,
    host: flags.host,
    port: flags.port,
    advertise: flags.advertise,
    dev: flags.dev,
    version: options.version,
    namespace: flags.namespace,
    partitions: flags.partitions,
    jwtSecret: jwtSecret(flags, dataDir, logger),
    sendTimeoutMs: flags['send-timeout'],
    batchLingerMs: flags['batch-linger'],
    ...(flags.heartbeat ? {heartbeatMs: flags.heartbeat} : {}),
    accessTtlSec: flags['access-ttl'],
    refreshTtlSec: flags['refresh-ttl'],
    wsCompression: flags['ws-compression'],
    tls: flags['tls-cert'] && flags['tls-key'] ? {cert: flags['tls-cert'], key: flags['tls-key']} : undefined,
    adminToken: flags['admin-token'] || undefined,
    media: mediaConfigFromFlags(flags, dataDir),
    rateLimits: {enabled: flags['rate-limits'] !== 'off', maxConnectionsPerUser: flags['max-connections-per-user']},
    presence: flags.presence as 'contacts' | 'off',
    canary: canaryConfigFromFlags(flags),
    push: pushConfigFromFlags(flags, flags.dev),
    sms: {
      sink: (flags['sms-sink'] ?? (flags.dev ? 'dev' : 'log')) as 'log' | 'dev' | 'webhook',
      webhookUrl: flags['sms-webhook-url'],
    },
  })
  if (config.tls) readTlsFiles(config.tls) // a bad certificate fails now, before any database work
  const adapters = await createAdapters({
    databaseUrl: flags['database-url'],
    natsUrl: flags['nats-url'],
    redisUrl: flags['redis-url'],
    dataDir,
    allowEmbedded: options.embedded,
    namespace: config.namespace,
    ackWaitMs: config.ackWaitMs,
    routeTtlMs: config.routeTtlMs,
    streamReplicas: flags['stream-replicas'],
    pushAckWaitMs: config.push.ackWaitMs,
    nodeId: config.nodeId,
    logger,
  })
  try {
    if (options.embedded || flags.migrate) {
      const result = await migrate(adapters.sql)
      if (result.applied.length > 0) logger.info({applied: result.applied}, 'database migrated')
    } else {
      await assertMigrated(adapters.sql)
    }
  } catch (error) {
    await adapters.close()
    throw error
  }
  const node = await startNode(config, {adapters, logger})
  let signals = 0
  const shutdown = async (signal: string) => {
    if (++signals > 1) process.exit(1)
    logger.info({signal}, 'shutting down (again to force)')
    await node.stop()
    await adapters.close()
    logger.flush()
    process.exit(0)
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
}

function jwtSecret(flags: ServeFlags, dataDir: string | undefined, logger: ReturnType<typeof createLogger>): string | undefined {
  if (flags['jwt-secret']) return flags['jwt-secret']
  if (dataDir) {
    // Single node: a secret generated once and kept with the data.
    const file = join(dataDir, 'jwt-secret')
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), {mode: 0o600})
    return readFileSync(file, 'utf8').trim()
  }
  if (flags.dev) {
    logger.warn('no --jwt-secret: using the well-known development secret (never in production)')
    return 'msgr-development-secret-do-not-use-in-production'
  }
  return undefined
}
