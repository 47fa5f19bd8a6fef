import {setTimeout as sleep} from 'node:timers/promises'

import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamInfo,
} from '@nats-io/jetstream'
import {connect, nanos, type NatsConnection, type Subscription} from '@nats-io/transport-node'

import type {Bus, IngestConsumer, IngestDelivery} from '../../core/ports.js'

export interface NatsBusOptions {
  url: string
  /** Subject prefix (`<ns>.ingest.<p>`, `<ns>.node.<id>`) and stream name prefix (`<NS>_INGEST`). */
  namespace: string
  /** JetStream redelivers an un-acked ingest message after this long (default 10000 ms). */
  ackWaitMs?: number
  /** Most un-acked messages out at once per partition (default 20000). */
  maxAckPending?: number
  /** Connection name, shown in the server's monitoring. */
  name?: string
  /** Replicas of the ingest stream (1 on a single NATS server, 3 on a cluster; default 1). */
  replicas?: number
  /** Transient failures the bus recovers from on its own (reconnects, re-created consumers, ...). */
  onError?: (err: unknown) => void
}

/**
 * The NATS bus: ingest partitions are subjects of one work-queue JetStream stream, consumed through one
 * durable pull consumer per partition; node mailboxes are core NATS subjects.
 */
export async function createNatsBus(options: NatsBusOptions): Promise<Bus> {
  // noAsyncTraces: otherwise every request (each JetStream publish) builds two Error objects up front, for
  // a stack trace should it fail: 8.5% of a busy gateway's CPU in a profile, for errors almost never thrown.
  const nc = await connect({servers: options.url, name: options.name, maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true})
  let ctx: Context
  try {
    const jsm = await jetstreamManager(nc)
    ctx = {
      nc,
      jsm,
      js: jsm.jetstream(),
      namespace: options.namespace,
      stream: `${options.namespace.toUpperCase()}_INGEST`,
      ackWaitMs: options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
      maxAckPending: options.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
      replicas: options.replicas ?? 1,
      onError: safely(options.onError),
    }
    await ensureStream(ctx)
  } catch (err) {
    await nc.close().catch(() => {})
    throw err
  }

  const consumers = new Set<PartitionConsumer>()
  let reconnecting = false
  let closing = false

  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnecting') reconnecting = true
      if (status.type === 'reconnect') {
        reconnecting = false
        // The client's own recovery backs off for up to ~45 s when JetStream is not ready yet; ours is quicker.
        for (const consumer of consumers) consumer.restart()
      }
      if (status.type === 'error') ctx.onError(status.error)
    }
  })().catch(ctx.onError)

  const publishTogether = coalescePublishes((partition: number, data: Uint8Array) => publishIngest(ctx, partition, data))

  return {
    kind: 'nats',

    publishIngest: publishTogether,

    async consumeIngest(partition, onMessage): Promise<IngestConsumer> {
      if (closing) throw new Error('bus is closed')
      const consumer = await startPartitionConsumer(ctx, partition, onMessage, () => consumers.delete(consumer))
      consumers.add(consumer)
      if (closing) {
        await consumer.stop()
        throw new Error('bus is closed')
      }
      return {stop: () => consumer.stop()}
    },

    publishNode(nodeId, data) {
      try {
        nc.publish(`${ctx.namespace}.node.${nodeId}`, data)
      } catch (err) {
        ctx.onError(err)
      }
    },

    subscribeNode(nodeId, onMessage) {
      let sub: Subscription
      try {
        sub = nc.subscribe(`${ctx.namespace}.node.${nodeId}`, {
          callback: (err, msg) => {
            if (err) return ctx.onError(err)
            try {
              onMessage(msg.data)
            } catch (handlerErr) {
              ctx.onError(handlerErr)
            }
          },
        })
      } catch (err) {
        // Only on a closed connection; like the memory bus, a closed bus delivers nothing.
        ctx.onError(err)
        return () => {}
      }
      return () => {
        try {
          sub.unsubscribe()
        } catch (err) {
          ctx.onError(err)
        }
      }
    },

    flush: () => nc.flush(),

    healthy: () => !closing && !reconnecting && !nc.isClosed(),

    async close() {
      if (closing) return
      closing = true
      await Promise.all([...consumers].map((consumer) => consumer.stop()))
      if (nc.isClosed()) return
      await nc.drain().catch(() => nc.close())
    },
  }
}

const DEFAULT_ACK_WAIT_MS = 10_000
const DEFAULT_MAX_ACK_PENDING = 20_000
const MAX_PULL_BATCH = 256
const STREAM_MAX_AGE_MS = 7 * 24 * 3600_000
const STREAM_DUPLICATE_WINDOW_MS = 2 * 60_000

interface Context {
  nc: NatsConnection
  jsm: JetStreamManager
  js: JetStreamClient
  namespace: string
  stream: string
  ackWaitMs: number
  maxAckPending: number
  replicas: number
  onError: (err: unknown) => void
}

interface PartitionConsumer {
  stop(): Promise<void>
  /** Drops the current pull subscription and starts over (re-creating the consumer if needed). */
  restart(): void
}

/**
 * Starts the publishes asked for during one turn of the event loop together, at its end (setImmediate), in
 * the order asked. nats.js writes its outbound buffer to the socket once per microtask checkpoint, and a
 * gateway publishes from each socket's frame handler, so unbatched every send was a write syscall of its
 * own: a quarter of a busy gateway's CPU in a profile. Together they are one write. Costs at most the
 * rest of the current turn in latency; order is kept, within a turn and across turns.
 */
export function coalescePublishes<A extends unknown[]>(publish: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  let pending: Array<{args: A; resolve: () => void; reject: (err: unknown) => void}> = []
  const flush = () => {
    const batch = pending
    pending = []
    for (const p of batch) publish(...p.args).then(p.resolve, p.reject)
  }
  return (...args) =>
    new Promise<void>((resolve, reject) => {
      if (pending.push({args, resolve, reject}) === 1) setImmediate(flush)
    })
}

async function publishIngest(ctx: Context, partition: number, data: Uint8Array): Promise<void> {
  const subject = `${ctx.namespace}.ingest.${partition}`
  try {
    await ctx.js.publish(subject, data)
  } catch (err) {
    // No responders: the stream is gone (deleted, or a server that lost its store); re-create it once.
    if (!(err instanceof Error && err.name === 'JetStreamNotEnabled')) throw err
    await ensureStream(ctx)
    await ctx.js.publish(subject, data)
  }
}

async function startPartitionConsumer(
  ctx: Context,
  partition: number,
  onMessage: (delivery: IngestDelivery) => void,
  onStopped: () => void,
): Promise<PartitionConsumer> {
  let info: ConsumerInfo | undefined = await ensureConsumer(ctx, partition)
  let stopped = false
  let current: ConsumerMessages | undefined
  // Keyed by stream sequence so a redelivery replaces a delivery its handler dropped.
  const unsettled = new Map<number, JsMsg>()
  const abort = new AbortController()

  const settle = (msg: JsMsg, action: (msg: JsMsg) => void) => {
    if (unsettled.get(msg.info.streamSequence) === msg) unsettled.delete(msg.info.streamSequence)
    try {
      action(msg)
    } catch (err) {
      ctx.onError(err)
    }
  }

  const deliver = (msg: JsMsg) => {
    unsettled.set(msg.info.streamSequence, msg)
    const delivery: IngestDelivery = {
      data: msg.data,
      partition,
      redelivered: msg.info.redelivered,
      ack: () => settle(msg, (m) => m.ack()),
      nak: (delayMs) => settle(msg, (m) => m.nak(delayMs)),
    }
    try {
      onMessage(delivery)
    } catch (err) {
      ctx.onError(err)
    }
  }

  const watch = (messages: ConsumerMessages) => {
    void (async () => {
      for await (const note of messages.status()) {
        if (RESTART_ON.has(note.type)) {
          ctx.onError(new Error(`ingest partition ${partition}: ${note.type}; re-subscribing`))
          closeQuietly(messages)
        }
      }
    })().catch(ctx.onError)
  }

  const run = async () => {
    let failures = 0
    while (!stopped && !ctx.nc.isClosed()) {
      const startedAt = Date.now()
      try {
        info ??= await ensureConsumer(ctx, partition)
        const messages = await ctx.js.consumers.getConsumerFromInfo(info).consume({max_messages: Math.min(MAX_PULL_BATCH, ctx.maxAckPending)})
        info = undefined
        current = messages
        if (stopped) closeQuietly(messages)
        watch(messages)
        for await (const msg of messages) {
          if (stopped) settle(msg, (m) => m.nak())
          else deliver(msg)
        }
        // A subscription that ends at once again and again must not spin.
        failures = Date.now() - startedAt < 1000 ? failures + 1 : 0
      } catch (err) {
        info = undefined
        if (stopped) break
        failures++
        ctx.onError(err)
      } finally {
        current = undefined
      }
      if (failures > 0 && !stopped) {
        await sleep(Math.min(250 * 2 ** (failures - 1), 5000), undefined, {signal: abort.signal, ref: false}).catch(() => {})
      }
    }
  }
  const loop = run()

  return {
    restart() {
      if (!stopped && current) closeQuietly(current)
    },
    async stop() {
      if (!stopped) {
        stopped = true
        abort.abort()
        if (current) closeQuietly(current)
        // Handing back what we hold lets the next owner start now instead of after ack-wait. (NATS 2.9 may
        // still route one of them to our now-dead pull request, so it comes back only after ack-wait.)
        for (const msg of [...unsettled.values()]) settle(msg, (m) => m.nak())
        onStopped()
      }
      await loop
    },
  }
}

const RESTART_ON = new Set(['consumer_deleted', 'consumer_not_found', 'stream_not_found', 'heartbeats_missed', 'no_responders'])

async function ensureStream(ctx: Context): Promise<StreamInfo> {
  const wanted = {
    subjects: [`${ctx.namespace}.ingest.*`],
    max_age: nanos(STREAM_MAX_AGE_MS),
    duplicate_window: nanos(STREAM_DUPLICATE_WINDOW_MS),
    num_replicas: ctx.replicas,
  }
  const existing = await streamInfo(ctx)
  if (!existing) {
    try {
      return await ctx.jsm.streams.add({
        name: ctx.stream,
        ...wanted,
        storage: StorageType.File,
        retention: RetentionPolicy.Workqueue,
      })
    } catch (err) {
      // Another process may have created it first.
      const raced = await streamInfo(ctx)
      if (!raced) throw err
      return raced
    }
  }
  const {config} = existing
  if (config.retention !== RetentionPolicy.Workqueue || config.storage !== StorageType.File) {
    ctx.onError(new Error(`stream ${ctx.stream} exists with retention ${config.retention} / storage ${config.storage}; expected workqueue / file`))
  }
  const same =
    config.subjects?.length === 1 &&
    config.subjects[0] === wanted.subjects[0] &&
    config.max_age === wanted.max_age &&
    config.duplicate_window === wanted.duplicate_window &&
    config.num_replicas === wanted.num_replicas
  return same ? existing : ctx.jsm.streams.update(ctx.stream, wanted)
}

async function streamInfo(ctx: Context): Promise<StreamInfo | undefined> {
  try {
    return await ctx.jsm.streams.info(ctx.stream)
  } catch (err) {
    if (isApiError(err, JetStreamApiCodes.StreamNotFound)) return undefined
    throw err
  }
}

/** Creates the partition's durable consumer, or brings an existing one to this process's settings. */
async function ensureConsumer(ctx: Context, partition: number): Promise<ConsumerInfo> {
  const durable = `p${partition}`
  const config: Partial<ConsumerConfig> = {
    durable_name: durable,
    filter_subject: `${ctx.namespace}.ingest.${partition}`,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(ctx.ackWaitMs),
    max_ack_pending: ctx.maxAckPending,
    deliver_policy: DeliverPolicy.All,
    max_deliver: -1,
  }
  let info = await consumerInfo(ctx, durable)
  if (!info) {
    try {
      return await ctx.jsm.consumers.add(ctx.stream, config)
    } catch (err) {
      // A concurrent worker may have created it (possibly with other settings, updated below).
      info = await consumerInfo(ctx, durable)
      if (!info) throw err
    }
  }
  const current = info.config
  if (current.ack_wait === config.ack_wait && current.max_ack_pending === config.max_ack_pending && current.max_deliver === -1) return info
  return ctx.jsm.consumers.update(ctx.stream, durable, {
    ack_wait: config.ack_wait,
    max_ack_pending: config.max_ack_pending,
    max_deliver: -1,
  })
}

async function consumerInfo(ctx: Context, durable: string): Promise<ConsumerInfo | undefined> {
  try {
    return await ctx.jsm.consumers.info(ctx.stream, durable)
  } catch (err) {
    if (isApiError(err, JetStreamApiCodes.ConsumerNotFound)) return undefined
    if (isApiError(err, JetStreamApiCodes.StreamNotFound)) {
      await ensureStream(ctx)
      return undefined
    }
    throw err
  }
}

/** A reporter that cannot throw into the bus's own loops. */
function safely(onError: ((err: unknown) => void) | undefined): (err: unknown) => void {
  return (err) => {
    try {
      onError?.(err)
    } catch {
      // The reporter's own failure has nowhere better to go.
    }
  }
}

function closeQuietly(messages: ConsumerMessages) {
  messages.close().catch(() => {})
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code
}
