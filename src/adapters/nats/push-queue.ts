import {setTimeout as sleep} from 'node:timers/promises'

import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream'
import {connect, nanos, type NatsConnection} from '@nats-io/transport-node'

import type {DeadLetter, PushQueue, PushQueueConsumer, PushQueueMessage} from '../../core/push/queue.js'

export interface NatsPushQueueOptions {
  url: string
  /** Subjects `<ns>.push.jobs` / `<ns>.push.dlq`; streams `<NS>_PUSH` (work queue) and `<NS>_PUSH_DLQ`. */
  namespace: string
  /** An un-acked job is redelivered after this long (default 30000 ms). */
  ackWaitMs?: number
  /** Replicas of both streams when they are created (default 1; 3 on a NATS cluster). */
  replicas?: number
  name?: string
  onError?: (err: unknown) => void
}

/**
 * Push jobs on JetStream: one work-queue stream read through one durable pull consumer shared by every
 * worker; failed jobs are retried with `nak(delay)` (NATS 2.9 honours the delay) and, once given up,
 * copied to a limits-retention dead-letter stream before the original is acked.
 */
export async function createNatsPushQueue(options: NatsPushQueueOptions): Promise<PushQueue> {
  const nc = await connect({servers: options.url, name: options.name && `${options.name}:push`, maxReconnectAttempts: -1, reconnectTimeWait: 500})
  const onError = (err: unknown) => {
    try {
      options.onError?.(err)
    } catch {
      // nowhere better to report it
    }
  }
  let ctx: Context
  try {
    const jsm = await jetstreamManager(nc)
    const upper = options.namespace.toUpperCase()
    ctx = {
      nc,
      jsm,
      js: jsm.jetstream(),
      stream: `${upper}_PUSH`,
      dlqStream: `${upper}_PUSH_DLQ`,
      subject: `${options.namespace}.push.jobs`,
      dlqSubject: `${options.namespace}.push.dlq`,
      ackWaitMs: options.ackWaitMs ?? 30_000,
      replicas: options.replicas ?? 1,
    }
    await ensureStreams(ctx)
    await ensureConsumer(ctx)
  } catch (err) {
    await nc.close().catch(() => {})
    throw err
  }
  const consumers = new Set<{stop(): Promise<void>}>()
  let closing = false

  const queue: PushQueue = {
    kind: 'nats',

    async publish(data) {
      await ctx.js.publish(ctx.subject, data)
    },

    async consume(onMessage): Promise<PushQueueConsumer> {
      if (closing) throw new Error('push queue is closed')
      const consumer = startConsumer(ctx, onMessage, onError)
      consumers.add(consumer)
      return {
        async stop() {
          consumers.delete(consumer)
          await consumer.stop()
        },
      }
    },

    async deadLetter({data, reason, attempts}) {
      const letter = {reason, attempts, at: Date.now(), data: Buffer.from(data).toString('base64')}
      await ctx.js.publish(ctx.dlqSubject, JSON.stringify(letter))
    },

    async listDead(limit) {
      const out: DeadLetter[] = []
      const info = await ctx.jsm.streams.info(ctx.dlqStream)
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && out.length < limit; seq++) {
        const stored = await ctx.jsm.streams.getMessage(ctx.dlqStream, {seq}).catch(() => null)
        if (!stored) continue
        const letter = stored.json<{reason: string; attempts: number; at: number; data: string}>()
        out.push({seq, data: new Uint8Array(Buffer.from(letter.data, 'base64')), reason: letter.reason, attempts: letter.attempts, at: letter.at})
      }
      return out
    },

    async redrive(limit = Number.MAX_SAFE_INTEGER) {
      let moved = 0
      // Published to the queue before it leaves the dead-letter stream: a crash in between duplicates, never loses.
      for (const letter of await queue.listDead(limit)) {
        await ctx.js.publish(ctx.subject, letter.data)
        await ctx.jsm.streams.deleteMessage(ctx.dlqStream, letter.seq, false)
        moved++
      }
      return moved
    },

    async close() {
      if (closing) return
      closing = true
      await Promise.all([...consumers].map((c) => c.stop()))
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close())
    },
  }
  return queue
}

interface Context {
  nc: NatsConnection
  jsm: JetStreamManager
  js: JetStreamClient
  stream: string
  dlqStream: string
  subject: string
  dlqSubject: string
  ackWaitMs: number
  replicas: number
}

const DURABLE = 'push'
const MAX_ACK_PENDING = 10_000
const PULL_BATCH = 256
const QUEUE_MAX_AGE_MS = 7 * 24 * 3600_000
const DLQ_MAX_AGE_MS = 30 * 24 * 3600_000

function startConsumer(ctx: Context, onMessage: (message: PushQueueMessage) => void, onError: (err: unknown) => void): {stop(): Promise<void>} {
  let stopped = false
  let current: ConsumerMessages | undefined
  const unsettled = new Map<number, JsMsg>()
  const abort = new AbortController()

  const settle = (msg: JsMsg, action: (msg: JsMsg) => void) => {
    if (unsettled.get(msg.info.streamSequence) !== msg) return
    unsettled.delete(msg.info.streamSequence)
    try {
      action(msg)
    } catch (err) {
      onError(err)
    }
  }

  const deliver = (msg: JsMsg) => {
    unsettled.set(msg.info.streamSequence, msg)
    const message: PushQueueMessage = {
      data: msg.data,
      deliveryCount: msg.info.deliveryCount,
      ack: () => settle(msg, (m) => m.ack()),
      nak: (delayMs) => settle(msg, (m) => m.nak(delayMs)),
      working: () => {
        if (unsettled.get(msg.info.streamSequence) === msg) msg.working()
      },
    }
    try {
      onMessage(message)
    } catch (err) {
      onError(err)
    }
  }

  const loop = (async () => {
    let failures = 0
    while (!stopped && !ctx.nc.isClosed()) {
      const startedAt = Date.now()
      try {
        const consumer = await ctx.js.consumers.get(ctx.stream, DURABLE)
        const messages = await consumer.consume({max_messages: PULL_BATCH})
        current = messages
        if (stopped) messages.close().catch(() => {})
        for await (const msg of messages) {
          if (stopped) msg.nak()
          else deliver(msg)
        }
        failures = Date.now() - startedAt < 1000 ? failures + 1 : 0
      } catch (err) {
        if (stopped) break
        failures++
        onError(err)
        if (isApiError(err, JetStreamApiCodes.ConsumerNotFound) || isApiError(err, JetStreamApiCodes.StreamNotFound)) {
          await ensureStreams(ctx).then(() => ensureConsumer(ctx)).catch(onError)
        }
      } finally {
        current = undefined
      }
      if (failures > 0 && !stopped) await sleep(Math.min(250 * 2 ** (failures - 1), 5000), undefined, {signal: abort.signal, ref: false}).catch(() => {})
    }
  })()

  return {
    async stop() {
      if (!stopped) {
        stopped = true
        abort.abort()
        current?.close().catch(() => {})
        for (const msg of [...unsettled.values()]) settle(msg, (m) => m.nak())
      }
      await loop
    },
  }
}

async function ensureStreams(ctx: Context): Promise<void> {
  await ensureStream(ctx, ctx.stream, {
    subjects: [ctx.subject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    max_age: nanos(QUEUE_MAX_AGE_MS),
  })
  await ensureStream(ctx, ctx.dlqStream, {
    subjects: [ctx.dlqSubject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(DLQ_MAX_AGE_MS),
  })
}

async function ensureStream(
  ctx: Context,
  name: string,
  config: {subjects: string[]; retention: RetentionPolicy; storage: StorageType; max_age: number},
): Promise<void> {
  try {
    await ctx.jsm.streams.info(name)
    return
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err
  }
  try {
    await ctx.jsm.streams.add({name, ...config, num_replicas: ctx.replicas})
  } catch (err) {
    // Another process may have created it first.
    await ctx.jsm.streams.info(name).catch(() => {
      throw err
    })
  }
}

async function ensureConsumer(ctx: Context): Promise<void> {
  const config = {
    durable_name: DURABLE,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(ctx.ackWaitMs),
    max_ack_pending: MAX_ACK_PENDING,
    deliver_policy: DeliverPolicy.All,
    // The worker counts attempts itself and dead-letters; the server never gives up on a job.
    max_deliver: -1,
  }
  try {
    const info = await ctx.jsm.consumers.info(ctx.stream, DURABLE)
    if (info.config.ack_wait !== config.ack_wait) await ctx.jsm.consumers.update(ctx.stream, DURABLE, {ack_wait: config.ack_wait})
    return
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err
  }
  try {
    await ctx.jsm.consumers.add(ctx.stream, config)
  } catch (err) {
    await ctx.jsm.consumers.info(ctx.stream, DURABLE).catch(() => {
      throw err
    })
  }
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code
}
