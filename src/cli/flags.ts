import {Flags} from '@oclif/core'

import {RATE_LIMIT_DEFAULTS} from '../core/rate-policy.js'
import {BATCH_WORTH_STARTING, DEFAULTS} from '../server/config.js'

// Flags shared by the serve commands; each has an MSGR_* environment equivalent.

export const serviceFlags = {
  'database-url': Flags.string({description: 'Postgres URL, e.g. postgres://msgr@db:5432/msgr', env: 'MSGR_DATABASE_URL'}),
  'nats-url': Flags.string({description: 'NATS URL (JetStream enabled), e.g. nats://nats:4222', env: 'MSGR_NATS_URL'}),
  'redis-url': Flags.string({description: 'Redis URL, e.g. redis://redis:6379', env: 'MSGR_REDIS_URL'}),
  'stream-replicas': Flags.integer({description: 'Replicas of the JetStream streams (1 on one NATS server, 3 on a NATS cluster)', env: 'MSGR_STREAM_REPLICAS', default: 1, min: 1, max: 5}),
}

export const nodeFlags = {
  port: Flags.integer({char: 'p', description: 'HTTP/WebSocket port (0 = any free port)', env: 'MSGR_PORT', default: DEFAULTS.port, min: 0, max: 65535}),
  host: Flags.string({description: 'Address to listen on', env: 'MSGR_HOST', default: DEFAULTS.host}),
  advertise: Flags.string({description: 'host:port other nodes and clients use to reach this node', env: 'MSGR_ADVERTISE'}),
  'node-id': Flags.string({description: 'Unique node id (default: <role>-<hostname>-<port>)', env: 'MSGR_NODE_ID'}),
  namespace: Flags.string({description: 'Prefix of NATS streams/subjects and Redis keys (one per cluster)', env: 'MSGR_NAMESPACE', default: DEFAULTS.namespace}),
  partitions: Flags.integer({description: 'Conversation partitions (same on every node of a cluster)', env: 'MSGR_PARTITIONS', default: DEFAULTS.partitions, min: 1, max: 4096}),
  'jwt-secret': Flags.string({description: 'HS256 secret for access tokens (32+ characters)', env: 'MSGR_JWT_SECRET'}),
  dev: Flags.boolean({description: 'Development mode: GET /v1/dev/otp, readable logs', env: 'MSGR_DEV', default: false}),
  'log-format': Flags.string({description: 'Log format (default: pretty with --dev, json otherwise)', env: 'MSGR_LOG_FORMAT', options: ['json', 'pretty']}),
  'log-level': Flags.string({description: 'Log level', env: 'MSGR_LOG_LEVEL', default: 'info', options: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']}),
  migrate: Flags.boolean({description: 'Apply database migrations before starting', env: 'MSGR_MIGRATE', default: false}),
  'sms-sink': Flags.string({description: 'Where OTP codes go: log, dev (log + /v1/dev/otp), webhook', env: 'MSGR_SMS_SINK', options: ['log', 'dev', 'webhook']}),
  'sms-webhook-url': Flags.string({description: 'SMS bridge URL for --sms-sink webhook (POST {phone, code})', env: 'MSGR_SMS_WEBHOOK_URL'}),
  presence: Flags.string({description: 'Presence fan-out: contacts (direct-conversation peers) or off', env: 'MSGR_PRESENCE', options: ['contacts', 'off'], default: 'contacts'}),
  'rate-limits': Flags.string({description: 'Rate limits (frames per connection, sends and group changes per user, duplicate content to many conversations, max connections per user): on or off', env: 'MSGR_RATE_LIMITS', options: ['on', 'off'], default: 'on'}),
  'max-connections-per-user': Flags.integer({description: 'Open WebSocket connections one user may hold (more are refused with 429)', env: 'MSGR_MAX_CONNECTIONS_PER_USER', default: RATE_LIMIT_DEFAULTS.maxConnectionsPerUser, min: 1}),
  'admin-token': Flags.string({description: 'Bearer token the control plane requires on /v1/admin/* (16+ characters; msgr node/partition/status send it)', env: 'MSGR_ADMIN_TOKEN'}),
  'tls-cert': Flags.string({description: 'PEM certificate chain: serve https:// and wss:// on --port (with --tls-key); omit when a load balancer terminates TLS', env: 'MSGR_TLS_CERT', dependsOn: ['tls-key']}),
  'tls-key': Flags.string({description: 'PEM private key of --tls-cert', env: 'MSGR_TLS_KEY', dependsOn: ['tls-cert']}),
  'ws-compression': Flags.boolean({description: 'Offer permessage-deflate on WebSockets (saves bandwidth, costs memory and CPU per socket)', env: 'MSGR_WS_COMPRESSION', default: false}),
  'access-ttl': Flags.integer({description: 'Seconds an access token lives (clients refresh with their refresh token; sockets past it close with 4401)', env: 'MSGR_ACCESS_TTL', default: DEFAULTS.accessTtlSec, min: 30}),
  'refresh-ttl': Flags.integer({description: 'Seconds a refresh token lives without use', env: 'MSGR_REFRESH_TTL', default: DEFAULTS.refreshTtlSec, min: 60}),
  heartbeat: Flags.integer({description: 'ms between WebSocket pings to each client (announced in hello; a client silent for two intervals is dropped). Longer saves CPU on gateways holding ~100k sockets', env: 'MSGR_HEARTBEAT_MS', default: DEFAULTS.heartbeatMs, min: 1000, max: 600_000}),
  'batch-linger': Flags.integer({description: `ms a worker waits for more sends before storing a batch of fewer than ${BATCH_WORTH_STARTING} (0 = store at once): fewer, larger batches use less CPU at moderate load, for at most this much added latency`, env: 'MSGR_BATCH_LINGER_MS', default: DEFAULTS.batchLingerMs, min: 0, max: 10_000}),
  'send-timeout': Flags.integer({description: 'ms a send waits for its durable ack before answering "timeout"', env: 'MSGR_SEND_TIMEOUT_MS', default: DEFAULTS.sendTimeoutMs, min: 100}),
}
