import type {DeadLetter, PushQueue, PushQueueConsumer, PushQueueMessage} from '../../core/push/queue.js'

export interface MemoryPushQueueOptions {
  /** An un-acked message is handed out again after this long (default 30000 ms). */
  ackWaitMs?: number
}

/** The in-process notification queue for `msgr serve all`: same redelivery semantics as the JetStream one. */
export function createMemoryPushQueue(options: MemoryPushQueueOptions = {}): PushQueue {
  const ackWaitMs = options.ackWaitMs ?? 30_000
  const ready: Entry[] = []
  const consumers: Array<(message: PushQueueMessage) => void> = []
  const timers = new Set<NodeJS.Timeout>()
  const dead: DeadLetter[] = []
  const inFlight = new Set<Entry>()
  let nextDeadSeq = 1
  let turn = 0
  let closed = false

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      fn()
    }, ms)
    timer.unref()
    timers.add(timer)
    return timer
  }

  const enqueue = (entry: Entry) => {
    if (closed) return
    ready.push(entry)
    pump()
  }

  const pump = () => {
    while (!closed && consumers.length > 0 && ready.length > 0) {
      const entry = ready.shift()!
      const consumer = consumers[turn++ % consumers.length]!
      deliver(entry, consumer)
    }
  }

  const deliver = (entry: Entry, consumer: (message: PushQueueMessage) => void) => {
    entry.deliveries++
    let settled = false
    let expiry = later(ackWaitMs, () => settle(() => enqueue(entry)))
    const settle = (then: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(expiry)
      timers.delete(expiry)
      entry.holder = undefined
      inFlight.delete(entry)
      then()
    }
    entry.holder = () => settle(() => enqueue(entry))
    const message: PushQueueMessage = {
      data: entry.data,
      deliveryCount: entry.deliveries,
      ack: () => settle(() => {}),
      nak: (delayMs = 0) => settle(() => (delayMs > 0 ? later(delayMs, () => enqueue(entry)) : enqueue(entry))),
      working: () => {
        if (settled) return
        clearTimeout(expiry)
        timers.delete(expiry)
        expiry = later(ackWaitMs, () => settle(() => enqueue(entry)))
      },
    }
    entry.consumer = consumer
    inFlight.add(entry)
    consumer(message)
  }

  return {
    kind: 'memory',

    async publish(data) {
      if (closed) throw new Error('push queue is closed')
      enqueue({data, deliveries: 0})
    },

    async consume(onMessage): Promise<PushQueueConsumer> {
      if (closed) throw new Error('push queue is closed')
      const consumer = (message: PushQueueMessage) => onMessage(message)
      consumers.push(consumer)
      pump()
      return {
        async stop() {
          const i = consumers.indexOf(consumer)
          if (i >= 0) consumers.splice(i, 1)
          // What this consumer holds goes back now rather than after the ack wait.
          for (const entry of inFlight) if (entry.consumer === consumer) entry.holder?.()
        },
      }
    },

    async deadLetter({data, reason, attempts}) {
      dead.push({seq: nextDeadSeq++, data, reason, attempts, at: Date.now()})
    },

    async listDead(limit) {
      return dead.slice(0, limit)
    },

    async redrive(limit = Number.MAX_SAFE_INTEGER) {
      const moved = dead.splice(0, limit)
      for (const letter of moved) {
        enqueue({data: letter.data, deliveries: 0})
      }
      return moved.length
    },

    async close() {
      closed = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      consumers.length = 0
    },
  }
}

interface Entry {
  data: Uint8Array
  deliveries: number
  consumer?: (message: PushQueueMessage) => void
  /** Hands the entry back when its consumer stops. */
  holder?: () => void
}
