import type {Bus, IngestConsumer, IngestDelivery} from '../../core/ports.js'

export interface MemoryBusOptions {
  /** An un-acked ingest message is handed out again after this long (default 10000 ms). */
  ackWaitMs?: number
  /** Most un-acked messages out at once per partition, like JetStream's max_ack_pending (default 20000). */
  maxAckPending?: number
  /** Errors thrown by message handlers (they never reach the publisher). */
  onError?: (err: unknown) => void
}

/**
 * The in-process bus for single-node deployments and fast tests, with the NATS adapter's semantics:
 * per-partition durable queues with ack / nak / ack-wait redelivery, and async pub/sub mailboxes.
 */
export function createMemoryBus(options: MemoryBusOptions = {}): Bus {
  const ackWaitMs = options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS
  const maxAckPending = options.maxAckPending ?? DEFAULT_MAX_ACK_PENDING
  const onError = (err: unknown) => {
    try {
      options.onError?.(err)
    } catch {
      // A throwing reporter must not break delivery.
    }
  }
  const partitions = new Map<number, Partition>()
  const mailboxes = new Map<string, Set<Mailbox>>()
  let nextSeq = 1
  let closed = false

  const partitionOf = (id: number): Partition => {
    let partition = partitions.get(id)
    if (!partition) {
      partition = {id, fresh: [], head: 0, retry: [], consumers: [], nextConsumer: 0, inflight: 0, delayed: new Set(), scheduled: false}
      partitions.set(id, partition)
    }
    return partition
  }

  const schedule = (partition: Partition) => {
    if (partition.scheduled || closed) return
    partition.scheduled = true
    setImmediate(() => pump(partition))
  }

  const pump = (partition: Partition) => {
    partition.scheduled = false
    for (let budget = PUMP_BATCH; !closed && partition.consumers.length > 0 && partition.inflight < maxAckPending; budget--) {
      // Yield to I/O between batches, as a network bus would.
      if (budget === 0) return schedule(partition)
      const entry = takeNext(partition)
      if (!entry) return
      const consumer = partition.consumers[partition.nextConsumer++ % partition.consumers.length]!
      handOut(partition, entry, consumer)
    }
  }

  const handOut = (partition: Partition, entry: Entry, consumer: Consumer) => {
    entry.deliveries++
    entry.state = 'inflight'
    entry.holder = consumer
    const handle = {settled: false}
    consumer.held.set(entry, handle)
    partition.inflight++
    const attempt = entry.deliveries
    entry.timer = setTimeout(() => {
      if (entry.state === 'inflight' && entry.deliveries === attempt) release(partition, entry)
    }, ackWaitMs).unref()
    const delivery: IngestDelivery = {
      data: entry.data,
      partition: partition.id,
      redelivered: attempt > 1,
      ack() {
        if (handle.settled) return
        handle.settled = true
        ack(partition, entry)
      },
      nak(delayMs) {
        if (handle.settled) return
        handle.settled = true
        if (entry.state === 'inflight' && entry.deliveries === attempt) release(partition, entry, delayMs)
      },
    }
    try {
      consumer.onMessage(delivery)
    } catch (err) {
      onError(err)
    }
  }

  // Like JetStream, a late ack (after ack-wait handed the message to someone else) still counts.
  const ack = (partition: Partition, entry: Entry) => {
    if (entry.state === 'acked') return
    if (entry.state === 'inflight') unhold(partition, entry)
    if (entry.state === 'delayed') {
      clearTimeout(entry.timer)
      partition.delayed.delete(entry)
    }
    entry.state = 'acked'
    schedule(partition)
  }

  const release = (partition: Partition, entry: Entry, delayMs?: number) => {
    unhold(partition, entry)
    if (delayMs && delayMs > 0) {
      entry.state = 'delayed'
      partition.delayed.add(entry)
      entry.timer = setTimeout(() => {
        partition.delayed.delete(entry)
        makeReady(partition, entry)
      }, delayMs).unref()
    } else {
      makeReady(partition, entry)
    }
    schedule(partition)
  }

  const unhold = (partition: Partition, entry: Entry) => {
    clearTimeout(entry.timer)
    entry.timer = undefined
    entry.holder?.held.delete(entry)
    entry.holder = undefined
    partition.inflight--
  }

  const makeReady = (partition: Partition, entry: Entry) => {
    entry.state = 'ready'
    insertBySeq(partition.retry, entry)
    schedule(partition)
  }

  return {
    kind: 'memory',

    async publishIngest(partition, data) {
      if (closed) throw new Error('bus is closed')
      const target = partitionOf(partition)
      target.fresh.push({seq: nextSeq++, data: data.slice(), deliveries: 0, state: 'ready'})
      schedule(target)
    },

    async consumeIngest(partition, onMessage): Promise<IngestConsumer> {
      if (closed) throw new Error('bus is closed')
      const target = partitionOf(partition)
      const consumer: Consumer = {onMessage, held: new Map()}
      target.consumers.push(consumer)
      schedule(target)
      return {
        async stop() {
          const index = target.consumers.indexOf(consumer)
          if (index === -1) return
          target.consumers.splice(index, 1)
          for (const [entry, handle] of [...consumer.held]) {
            handle.settled = true
            release(target, entry)
          }
        },
      }
    },

    publishNode(nodeId, data) {
      const subscribers = mailboxes.get(nodeId)
      if (closed || !subscribers) return
      const copy = data.slice()
      for (const mailbox of subscribers) {
        mailbox.queue.push(copy)
        if (!mailbox.scheduled) {
          mailbox.scheduled = true
          setImmediate(() => drain(mailbox, onError))
        }
      }
    },

    subscribeNode(nodeId, onMessage) {
      const mailbox: Mailbox = {onMessage, queue: [], scheduled: false, active: !closed}
      let subscribers = mailboxes.get(nodeId)
      if (!subscribers) mailboxes.set(nodeId, (subscribers = new Set()))
      subscribers.add(mailbox)
      return () => {
        mailbox.active = false
        mailbox.queue = []
        const current = mailboxes.get(nodeId)
        current?.delete(mailbox)
        if (current?.size === 0) mailboxes.delete(nodeId)
      }
    },

    flush: () => new Promise((resolve) => setImmediate(resolve)),

    healthy: () => !closed,

    async close() {
      if (closed) return
      closed = true
      for (const partition of partitions.values()) {
        for (const consumer of partition.consumers) for (const entry of consumer.held.keys()) clearTimeout(entry.timer)
        for (const entry of partition.delayed) clearTimeout(entry.timer)
        partition.consumers = []
        partition.delayed.clear()
      }
      for (const subscribers of mailboxes.values()) for (const mailbox of subscribers) mailbox.active = false
      mailboxes.clear()
    },
  }
}

const DEFAULT_ACK_WAIT_MS = 10_000
const DEFAULT_MAX_ACK_PENDING = 20_000
const PUMP_BATCH = 1000

interface Entry {
  readonly seq: number
  readonly data: Uint8Array
  deliveries: number
  state: 'ready' | 'inflight' | 'delayed' | 'acked'
  holder?: Consumer
  timer?: NodeJS.Timeout
}

interface Consumer {
  onMessage: (delivery: IngestDelivery) => void
  /** Entries this consumer holds un-acked, with the handle of their current delivery. */
  held: Map<Entry, {settled: boolean}>
}

interface Partition {
  readonly id: number
  /** Never handed out yet, in publish order; consumed from `head`. */
  fresh: Array<Entry | undefined>
  head: number
  /** Due again (nak, ack-wait, consumer stop), sorted by seq; served before `fresh` when older. */
  retry: Entry[]
  consumers: Consumer[]
  nextConsumer: number
  inflight: number
  delayed: Set<Entry>
  scheduled: boolean
}

interface Mailbox {
  onMessage: (data: Uint8Array) => void
  queue: Uint8Array[]
  scheduled: boolean
  active: boolean
}

function takeNext(partition: Partition): Entry | undefined {
  for (;;) {
    const retry = partition.retry[0]
    const fresh = partition.fresh[partition.head]
    let entry: Entry | undefined
    if (retry && (!fresh || retry.seq < fresh.seq)) {
      entry = partition.retry.shift()
    } else if (fresh) {
      entry = fresh
      partition.fresh[partition.head++] = undefined
      compact(partition)
    }
    if (!entry) return undefined
    // Acks can land on an entry already queued for redelivery; such entries are dropped here.
    if (entry.state === 'ready') return entry
  }
}

function compact(partition: Partition) {
  if (partition.head === partition.fresh.length) {
    partition.fresh = []
    partition.head = 0
  } else if (partition.head > 1024 && partition.head * 2 > partition.fresh.length) {
    partition.fresh = partition.fresh.slice(partition.head)
    partition.head = 0
  }
}

function insertBySeq(list: Entry[], entry: Entry) {
  let low = 0
  let high = list.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (list[mid]!.seq < entry.seq) low = mid + 1
    else high = mid
  }
  list.splice(low, 0, entry)
}

function drain(mailbox: Mailbox, onError: (err: unknown) => void) {
  mailbox.scheduled = false
  const batch = mailbox.queue
  mailbox.queue = []
  for (const data of batch) {
    if (!mailbox.active) return
    try {
      mailbox.onMessage(data)
    } catch (err) {
      onError(err)
    }
  }
}
