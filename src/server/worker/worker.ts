import {decodeJson, type IngestEnvelope, ingestEnvelopeSchema, type SendOutcome, sendKey} from '../../core/envelope.js'
import {newId, partitionOf} from '../../core/ids.js'
import type {Logger} from '../../core/logger.js'
import type {Bus, Clock, IngestConsumer, IngestDelivery, Sql} from '../../core/ports.js'
import type {ConversationState} from '../../core/sequencer.js'
import {storeBatch} from '../../core/store/batch-store.js'
import {toMessageView} from '../../core/store/conversations.js'
import {MsgrError} from '../../errors.js'
import {BATCH_WORTH_STARTING, type NodeConfig} from '../config.js'
import type {FanoutPublisher} from '../fanout-publisher.js'
import type {Metrics} from '../metrics.js'
import {createLeaseKeeper, type LeaseKeeper} from './lease-keeper.js'

// The single writer of each partition it leases: takes sends from the durable stream, assigns seqs,
// commits them in batches (one INSERT per batch), then acks the stream, answers the gateways and fans out.

export interface WorkerDeps {
  sql: Sql
  bus: Bus
  fanout: FanoutPublisher
  logger: Logger
  metrics: Metrics
  clock: Clock
}

export interface Worker {
  start(): Promise<void>
  /** Graceful: finishes the batch in hand, hands back the rest, releases leases. */
  stop(): Promise<void>
  /** Simulates a crash (tests): drops everything in hand without acking or answering. */
  crash(): Promise<void>
  ownedPartitions(): number[]
  setDraining(draining: boolean): void
  stats(): {partitions: number; queued: number; stored: number}
}

const MAX_CACHED_CONVERSATIONS = 100_000

export function createWorker(config: NodeConfig, deps: WorkerDeps): Worker {
  const {sql, bus, logger, metrics} = deps
  const consumers = new Map<number, IngestConsumer>()
  const queue: IngestDelivery[] = []
  const states = new BoundedMap<string, ConversationState>(MAX_CACHED_CONVERSATIONS)
  let flushing: Promise<void> | undefined
  let stopped = false
  let dead = false
  let stored = 0
  let leases: LeaseKeeper | undefined

  /** Set while a small queue waits out the linger: starts the batch early once the queue is worth it. */
  let startEarly: (() => void) | undefined

  const schedule = () => {
    if (flushing || stopped || queue.length === 0) return
    flushing = batchDue()
      .then(drainQueue)
      .finally(() => {
        flushing = undefined
        schedule()
      })
  }

  // A batch has a fixed cost (a round trip and a commit) whatever its size. Starting one the moment a
  // single send is queued keeps the core busy on fixed costs at moderate load, so a queue smaller than
  // BATCH_WORTH_STARTING waits up to batchLingerMs for more sends (0: start at once).
  const batchDue = () =>
    new Promise<void>((resolve) => {
      if (config.batchLingerMs === 0 || queue.length >= BATCH_WORTH_STARTING) return void setImmediate(resolve)
      const start = () => {
        clearTimeout(timer)
        startEarly = undefined
        resolve()
      }
      const timer = setTimeout(start, config.batchLingerMs)
      startEarly = start
    })

  async function drainQueue(): Promise<void> {
    while (queue.length > 0 && !stopped) {
      const batch = queue.splice(0, config.maxBatch)
      await processBatch(batch)
    }
  }

  async function processBatch(deliveries: IngestDelivery[]): Promise<void> {
    const started = performance.now()
    const envelopes: IngestEnvelope[] = []
    const kept: IngestDelivery[] = []
    const redelivered = new Set<IngestEnvelope>()
    for (const delivery of deliveries) {
      const env = decodeEnvelope(delivery.data)
      if (!env) {
        // Never acknowledged to anyone: a malformed envelope is dropped, loudly.
        logger.error({partition: delivery.partition}, 'dropping malformed ingest envelope')
        delivery.ack()
        continue
      }
      envelopes.push(env)
      kept.push(delivery)
      if (delivery.redelivered) redelivered.add(env)
    }
    if (envelopes.length === 0) return

    try {
      const plan = await storeBatch(sql, envelopes, {
        states,
        now: () => new Date(deps.clock.now()),
        newId,
        onFencingConflict(conversations) {
          metrics.fencingConflicts.inc()
          logger.warn({conversations: conversations.length}, 'conversation advanced by another owner; reloading')
        },
        aborted: () => dead,
        redelivered,
      })
      if (!plan || dead) return
      stored += plan.inserts.length
      metrics.messagesStored.inc(plan.inserts.length)
      metrics.duplicates.inc(plan.outcomes.filter((o) => o.ok && o.duplicate).length)
      metrics.batchSize.observe(plan.inserts.length)
      await deps.fanout.publish(
        [
          ...plan.messages.map((m) => ({
            recipients: m.recipients,
            skipDevice: m.row.sender_device,
            event: {ev: 'message' as const, ...toMessageView(m.row)},
          })),
          ...plan.notices.map((n) => ({recipients: n.users, event: n.event})),
        ],
        plan.outcomes.map((outcome, i) => ({...outcome, node: envelopes[i]!.gw}) as SendOutcome & {node: string}),
      )
      for (const delivery of kept) delivery.ack()
      metrics.batchSeconds.observe((performance.now() - started) / 1000)
    } catch (error) {
      if (dead) return
      metrics.workerErrors.inc()
      for (const id of new Set(envelopes.map((e) => e.conv))) states.delete(id)
      if (isDataError(error)) return isolatePoison(kept, envelopes, error)
      logger.error({err: error, size: kept.length}, 'batch failed; handing messages back for redelivery')
      for (const delivery of kept) delivery.nak(1000)
    }
  }

  /** One envelope the database refuses must not hold back the batch it came in: bisect until it is alone. */
  async function isolatePoison(kept: IngestDelivery[], envelopes: IngestEnvelope[], error: unknown): Promise<void> {
    if (kept.length > 1) {
      const half = Math.ceil(kept.length / 2)
      await processBatch(kept.slice(0, half))
      await processBatch(kept.slice(half))
      return
    }
    const env = envelopes[0]!
    logger.error({err: error, conversation: env.conv}, 'database refused a message; answering invalid_request and dropping it')
    const key = sendKey(env.conv, env.sender, env.clientMsgId)
    const refused = new MsgrError('invalid_request', 'the message cannot be stored').toWire()
    await deps.fanout.publish([], [{key, ok: false, error: refused, node: env.gw}])
    kept[0]!.ack()
  }


  async function onAcquire(partition: number): Promise<void> {
    for (const id of states.keys()) if (partitionOf(id, config.partitions) === partition) states.delete(id)
    const consumer = await bus.consumeIngest(partition, (delivery) => {
      if (stopped) return delivery.nak()
      queue.push(delivery)
      if (startEarly && queue.length >= BATCH_WORTH_STARTING) startEarly()
      schedule()
    })
    consumers.set(partition, consumer)
    metrics.partitionsOwned.set(consumers.size)
  }

  async function onRelease(partition: number): Promise<void> {
    const consumer = consumers.get(partition)
    consumers.delete(partition)
    metrics.partitionsOwned.set(consumers.size)
    await consumer?.stop()
    startEarly?.()
    await flushing
    for (let i = queue.length - 1; i >= 0; i--) {
      if (queue[i]!.partition === partition) queue.splice(i, 1)[0]!.nak()
    }
    for (const id of states.keys()) if (partitionOf(id, config.partitions) === partition) states.delete(id)
  }

  return {
    async start() {
      leases = createLeaseKeeper(config, {sql, logger, onAcquire, onRelease})
      await leases.start()
    },
    async stop() {
      await leases?.stop()
      stopped = true
      startEarly?.() // a stopping worker does not wait out the linger
      await flushing
      for (const delivery of queue.splice(0)) delivery.nak()
      for (const consumer of consumers.values()) await consumer.stop()
      consumers.clear()
    },
    async crash() {
      dead = true
      stopped = true
      startEarly?.()
      await leases?.abandon()
      queue.length = 0
      for (const consumer of consumers.values()) await consumer.stop()
      consumers.clear()
    },
    setDraining: (draining) => leases?.setDraining(draining),
    ownedPartitions: () => [...consumers.keys()].sort((a, b) => a - b),
    stats: () => ({partitions: consumers.size, queued: queue.length, stored}),
  }
}

/**
 * SQLSTATE class 22 (data exception) or 23 (integrity constraint, e.g. a foreign key to a user that does
 * not exist): the input itself is at fault; retrying it cannot help. Seq conflicts never get here: the
 * compare-and-set turns them into FencingConflict first.
 */
function isDataError(error: unknown): boolean {
  const code = (error as {code?: unknown} | null)?.code
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'))
}

/** A Map that forgets its oldest entry when a new key would take it past `limit`. */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super()
  }
  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.limit) this.delete(this.keys().next().value as K)
    return super.set(key, value)
  }
}

function decodeEnvelope(data: Uint8Array): IngestEnvelope | undefined {
  try {
    const parsed = ingestEnvelopeSchema.safeParse(decodeJson(data))
    return parsed.success && UUID.test(parsed.data.conv) && UUID.test(parsed.data.sender) && UUID.test(parsed.data.senderDevice)
      ? parsed.data
      : undefined
  } catch {
    return undefined
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
