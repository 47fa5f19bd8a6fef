import {readdirSync, statSync} from 'node:fs'

import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client'

// One Prometheus registry per node (no global default registry), shared by the roles of that node.

const DEFAULT_METRICS_PREFIX = 'msgr_process_'
// Dropped from the default set: their collectors list every libuv handle, request and resource on each
// scrape (every socket, at 100k connections), a cost that grows with the load being watched.
const PER_SOCKET_DEFAULT_METRICS = `${DEFAULT_METRICS_PREFIX}nodejs_active_`

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Open file descriptors of this process: st_size of /proc/self/fd is their count on Linux 6.2+ (0 before). */
export function openFdCount(): number {
  const size = statSync('/proc/self/fd').size
  return size > 0 ? size : readdirSync('/proc/self/fd').length - 1 // the listing's own descriptor
}

export function createMetrics(labels: {node: string}) {
  const registry = new Registry()
  registry.setDefaultLabels(labels)
  collectDefaultMetrics({register: registry, prefix: DEFAULT_METRICS_PREFIX})
  for (const metric of registry.getMetricsAsArray()) {
    if (metric.name.startsWith(PER_SOCKET_DEFAULT_METRICS)) registry.removeSingleMetric(metric.name)
  }
  const r = [registry]
  // The default open-fds collector lists /proc/self/fd on every scrape (~20 ms at 18k sockets); the same
  // figure from one stat of the directory where the kernel gives it (Linux 6.2+), else from the listing.
  const openFds = `${DEFAULT_METRICS_PREFIX}process_open_fds`
  if (registry.getSingleMetric(openFds)) {
    registry.removeSingleMetric(openFds)
    new Gauge({name: openFds, help: 'Number of open file descriptors.', registers: r, collect() {
      this.set(openFdCount())
    }})
  }
  return {
    registry,
    connections: new Gauge({name: 'msgr_ws_connections', help: 'Open WebSocket connections', registers: r}),
    connectsTotal: new Counter({name: 'msgr_ws_connects_total', help: 'Accepted WebSocket connections', registers: r}),
    upgradeRejects: new Counter({name: 'msgr_ws_upgrade_rejects_total', help: 'Refused WebSocket upgrades', labelNames: ['code'], registers: r}),
    frames: new Counter({name: 'msgr_ws_frames_total', help: 'Requests received, by op', labelNames: ['op'], registers: r}),
    frameErrors: new Counter({name: 'msgr_ws_frame_errors_total', help: 'Error replies, by code', labelNames: ['code'], registers: r}),
    sendAckSeconds: new Histogram({name: 'msgr_send_ack_seconds', help: 'Gateway receive to durable ack', buckets: LATENCY_BUCKETS, registers: r}),
    deliveries: new Counter({name: 'msgr_deliveries_total', help: 'Events written to sockets', registers: r}),
    slowConsumerCloses: new Counter({name: 'msgr_slow_consumer_closes_total', help: 'Sockets closed for unread backlog', registers: r}),
    messagesStored: new Counter({name: 'msgr_messages_stored_total', help: 'Messages committed by workers', registers: r}),
    duplicates: new Counter({name: 'msgr_send_duplicates_total', help: 'Sends answered from an earlier copy (idempotent retry)', registers: r}),
    batchSize: new Histogram({name: 'msgr_worker_batch_size', help: 'Messages per committed batch', buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500], registers: r}),
    batchSeconds: new Histogram({name: 'msgr_worker_batch_seconds', help: 'Batch write time', buckets: LATENCY_BUCKETS, registers: r}),
    fencingConflicts: new Counter({name: 'msgr_worker_fencing_conflicts_total', help: 'Batches rolled back because another owner advanced a conversation', registers: r}),
    workerErrors: new Counter({name: 'msgr_worker_errors_total', help: 'Batch failures (retried)', registers: r}),
    partitionsOwned: new Gauge({name: 'msgr_worker_partitions_owned', help: 'Partitions leased by this worker', registers: r}),
    fanouts: new Counter({name: 'msgr_fanouts_total', help: 'Events fanned out, by strategy (direct < 10 recipients, batched ≤ 250, staged above)', labelNames: ['strategy'], registers: r}),
    busMessages: new Counter({name: 'msgr_bus_node_messages_total', help: 'Node mailbox messages published', registers: r}),
    canaryAckSeconds: new Histogram({name: 'msgr_canary_ack_seconds', help: 'Canary send to ack (control-plane leader)', buckets: LATENCY_BUCKETS, registers: r}),
    canaryDeliverySeconds: new Histogram({name: 'msgr_canary_delivery_seconds', help: 'Canary send to delivery at its second device (control-plane leader)', buckets: LATENCY_BUCKETS, registers: r}),
    canaryFailures: new Counter({name: 'msgr_canary_failures_total', help: 'Failed canary probes, by stage (gateway, auth, connect, send, deliver)', labelNames: ['stage'], registers: r}),
    sends: new Counter({name: 'msgr_sends_total', help: 'send and forward requests answered by the gateway, by result (ok, duplicate, or the error code)', labelNames: ['result'], registers: r}),
    deliverySeconds: new Histogram({name: 'msgr_delivery_seconds', help: 'Message commit (its ts) to the first socket write at the recipient gateway', buckets: LATENCY_BUCKETS, registers: r}),
    busErrors: new Counter({name: 'msgr_bus_errors_total', help: 'Failed bus operations, by op (publish_ingest, consume_ingest, publish_node)', labelNames: ['op'], registers: r}),
    dbErrors: new Counter({name: 'msgr_db_errors_total', help: 'Failed database calls, by op (query, exec, transaction)', labelNames: ['op'], registers: r}),
    httpRequests: new Counter({name: 'msgr_http_requests_total', help: 'HTTP requests answered, by status code', labelNames: ['status'], registers: r}),
    httpSeconds: new Histogram({name: 'msgr_http_request_seconds', help: 'HTTP request to response', buckets: LATENCY_BUCKETS, registers: r}),
    authCloses: new Counter({name: 'msgr_ws_auth_closes_total', help: 'Sockets closed with 4401 because their access token expired', registers: r}),
    rateLimited: new Counter({name: 'msgr_rate_limited_total', help: 'Requests and upgrades refused by a rate limit, by scope (frames, send, group_admin, duplicate_content, max_connections)', labelNames: ['scope'], registers: r}),
    pushQueued: new Counter({name: 'msgr_push_queued_total', help: 'Push jobs queued, by source (worker: device offline; gateway: device gone when the event arrived)', labelNames: ['source'], registers: r}),
    pushSent: new Counter({name: 'msgr_push_sent_total', help: 'Notifications accepted by the provider', labelNames: ['provider'], registers: r}),
    pushFailed: new Counter({name: 'msgr_push_failed_total', help: 'Notification attempts that failed, by provider and failure (transient, rejected, expired, dropped)', labelNames: ['provider', 'failure'], registers: r}),
    pushDeadLettered: new Counter({name: 'msgr_push_dead_lettered_total', help: 'Push jobs moved to the dead-letter stream', labelNames: ['provider'], registers: r}),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
