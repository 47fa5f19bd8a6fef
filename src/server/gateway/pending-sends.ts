import {encodeJson, type IngestEnvelope, type SendOutcome, sendKey} from '../../core/envelope.js'
import {partitionOf} from '../../core/ids.js'
import type {Bus} from '../../core/ports.js'
import {MsgrError} from '../../errors.js'

// Sends waiting for their durable outcome. Keyed by (conversation, sender, clientMsgId), not by request
// id, so a retry that arrives while the first copy is in flight waits for the same outcome.

export interface PendingSends {
  submit(envelope: IngestEnvelope): Promise<SendOutcome>
  resolve(outcome: SendOutcome): void
  size(): number
  /** Fails everything still waiting (shutdown). */
  failAll(error: MsgrError): void
}

interface Entry {
  waiters: Array<(outcome: SendOutcome) => void>
  timer: NodeJS.Timeout
}

export function createPendingSends(options: {bus: Bus; partitions: number; timeoutMs: number}): PendingSends {
  const entries = new Map<string, Entry>()

  const settle = (key: string, outcome: SendOutcome) => {
    const entry = entries.get(key)
    if (!entry) return
    entries.delete(key)
    clearTimeout(entry.timer)
    for (const waiter of entry.waiters) waiter(outcome)
  }
  const failure = (key: string, error: MsgrError): SendOutcome => ({key, ok: false, error: error.toWire()})

  return {
    submit(envelope) {
      const key = sendKey(envelope.conv, envelope.sender, envelope.clientMsgId)
      return new Promise<SendOutcome>((resolve) => {
        const existing = entries.get(key)
        if (existing) {
          existing.waiters.push(resolve)
          return
        }
        const timer = setTimeout(
          () => settle(key, failure(key, new MsgrError('timeout', 'not confirmed in time; retry with the same clientMsgId'))),
          options.timeoutMs,
        )
        entries.set(key, {waiters: [resolve], timer})
        // Published synchronously (frames keep their order); a synchronous throw settles like a rejection.
        let published: Promise<void>
        try {
          published = options.bus.publishIngest(partitionOf(envelope.conv, options.partitions), encodeJson(envelope))
        } catch (error) {
          published = Promise.reject(error)
        }
        published.catch(() => {
          settle(key, failure(key, new MsgrError('unavailable', 'message bus unavailable; retry with the same clientMsgId')))
        })
      })
    },
    resolve(outcome) {
      settle(outcome.key, outcome)
    },
    size: () => entries.size,
    failAll(error) {
      for (const key of [...entries.keys()]) settle(key, failure(key, error))
    },
  }
}
