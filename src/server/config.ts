import {hostname} from 'node:os'

import {z} from 'zod'

import {canaryConfigSchema} from '../control-plane/canary-config.js'
import {NODE_ID_PATTERN} from '../core/ids.js'
import {mediaConfigSchema} from './media/config.js'
import {rateLimitsSchema} from '../core/rate-policy.js'
import {pushConfigSchema} from './push/config.js'

// One options object per node, validated once; every field has a named default.

export const ROLES = ['gateway', 'worker', 'control-plane'] as const
export type Role = (typeof ROLES)[number]

export const DEFAULTS = {
  host: '0.0.0.0',
  port: 8080,
  namespace: 'msgr',
  partitions: 32,
  accessTtlSec: 15 * 60,
  refreshTtlSec: 30 * 24 * 3600,
  sendTimeoutMs: 10_000,
  heartbeatMs: 25_000,
  maxBatch: 1000,
  batchLingerMs: 2,
  ackWaitMs: 10_000,
  leaseTtlMs: 10_000,
  nodeHeartbeatMs: 2_000,
  routeTtlMs: 90_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  shutdownGraceMs: 10_000,
} as const

/** A worker queue this long spreads a batch's fixed cost well enough: it does not wait out `batchLingerMs`. */
export const BATCH_WORTH_STARTING = 64

export const nodeConfigSchema = z.object({
  nodeId: z.string().regex(NODE_ID_PATTERN, 'node id: letters, digits, "-" and "_" only (at most 64)'),
  roles: z.array(z.enum(ROLES)).min(1),
  host: z.string().default(DEFAULTS.host),
  port: z.number().int().min(0).max(65535).default(DEFAULTS.port),
  /** Address other nodes and clients use to reach this node (defaults to host:port). */
  advertise: z.string().optional(),
  dev: z.boolean().default(false),
  version: z.string().default('0.0.0'),
  namespace: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'namespace: lower-case letters, digits and "_"').default(DEFAULTS.namespace),
  partitions: z.number().int().min(1).max(4096).default(DEFAULTS.partitions),
  /** Required by gateways (they issue and check access tokens). */
  jwtSecret: z.string().min(32, 'the JWT secret must be at least 32 characters (set MSGR_JWT_SECRET)').optional(),
  accessTtlSec: z.number().int().positive().default(DEFAULTS.accessTtlSec),
  refreshTtlSec: z.number().int().positive().default(DEFAULTS.refreshTtlSec),
  sendTimeoutMs: z.number().int().positive().default(DEFAULTS.sendTimeoutMs),
  heartbeatMs: z.number().int().positive().default(DEFAULTS.heartbeatMs),
  maxBatch: z.number().int().min(1).max(10_000).default(DEFAULTS.maxBatch),
  /** ms a worker waits for more sends before storing a small batch (see worker.ts); 0 stores at once. */
  batchLingerMs: z.number().int().min(0).max(10_000).default(DEFAULTS.batchLingerMs),
  ackWaitMs: z.number().int().positive().default(DEFAULTS.ackWaitMs),
  leaseTtlMs: z.number().int().positive().default(DEFAULTS.leaseTtlMs),
  nodeHeartbeatMs: z.number().int().positive().default(DEFAULTS.nodeHeartbeatMs),
  routeTtlMs: z.number().int().positive().default(DEFAULTS.routeTtlMs),
  maxBufferedBytes: z.number().int().positive().default(DEFAULTS.maxBufferedBytes),
  /** Offer permessage-deflate to WebSocket clients (costs a zlib context per socket; off by default). */
  wsCompression: z.boolean().default(false),
  shutdownGraceMs: z.number().int().nonnegative().default(DEFAULTS.shutdownGraceMs),
  sms: z
    .object({sink: z.enum(['log', 'dev', 'webhook']), webhookUrl: z.url().optional()})
    .refine((s) => s.sink !== 'webhook' || s.webhookUrl, 'the webhook SMS sink needs --sms-webhook-url')
    .default({sink: 'log'}),
  /** Presence fan-out to contacts, or off (the biggest CPU cost of large chat servers). */
  presence: z.enum(['contacts', 'off']).default('contacts'),
  /** Rate limits and the duplicate-content rule (src/core/rate-policy.ts); `--rate-limits off` disables them. */
  rateLimits: rateLimitsSchema,
  /** Media uploads (gateways): size limit and storage (src/server/media/config.ts). */
  media: mediaConfigSchema.prefault({}),
  /** Bearer token the control plane's /v1/admin/* routes require (none: open, for a trusted network only). */
  adminToken: z.string().min(16, 'the admin token must be at least 16 characters (set MSGR_ADMIN_TOKEN)').optional(),
  /** The end-to-end canary the control-plane leader runs (src/control-plane/canary-config.ts); needs jwtSecret. */
  canary: canaryConfigSchema.prefault({}),
  /** Serve HTTPS and WSS on `port` with this PEM certificate and key (src/server/tls.ts); omit when a load balancer terminates TLS. */
  tls: z.object({cert: z.string().min(1), key: z.string().min(1)}).optional(),
  /** Push notifications for devices without a live connection (src/server/push/config.ts, docs/push.md). */
  push: pushConfigSchema.prefault({}),
  /** Tests only: every OTP is this code. */
  fixedOtp: z.string().regex(/^\d{6}$/).optional(),
}).refine((c) => !c.roles.includes('gateway') || c.jwtSecret, {
  message: 'gateways need a JWT secret: set --jwt-secret or MSGR_JWT_SECRET (32+ characters, the same on every gateway)',
  path: ['jwtSecret'],
})

export type NodeConfigInput = z.input<typeof nodeConfigSchema>
export type NodeConfig = z.output<typeof nodeConfigSchema>

export function parseNodeConfig(input: NodeConfigInput): NodeConfig {
  const parsed = nodeConfigSchema.safeParse(input)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || 'config'}: ${i.message}`)
    throw new Error(`invalid configuration:\n${lines.join('\n')}`)
  }
  return parsed.data
}

export function defaultNodeId(role: string, port: number): string {
  return `${role}-${hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)}-${port}`
}
