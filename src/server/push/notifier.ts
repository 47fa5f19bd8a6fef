import {randomUUID} from 'node:crypto'

import type {Logger} from '../../core/logger.js'
import type {Clock, RateLimiter, RateRule, Sql} from '../../core/ports.js'
import {afterFailure, type BackoffRule} from '../../core/push/backoff.js'
import {type Batch, DeviceBatcher} from '../../core/push/batcher.js'
import {decodeJob, type PushJob} from '../../core/push/job.js'
import {inQuietHours} from '../../core/push/prefs.js'
import type {PushOutcome, PushProvider, PushProviderName} from '../../core/push/provider.js'
import type {PushQueue, PushQueueConsumer, PushQueueMessage} from '../../core/push/queue.js'
import {summarise} from '../../core/push/summary.js'
import {prunePushHistory, type PushHistoryRow, recordPushHistory} from '../../core/store/push-history.js'
import {loadPushDevice, removeDeadToken, senderNames} from '../../core/store/push-tokens.js'
import type {Metrics} from '../metrics.js'
import type {PushConfig} from './config.js'

// The notification worker: takes push jobs off the queue, batches them per device, and sends one
// notification per batch through the device's provider. A job is acked only once its notification was
// accepted, its token declared dead, or it was copied to the dead-letter stream.

export interface NotifierDeps {
  sql: Sql
  queue: PushQueue
  providers: ReadonlyMap<PushProviderName, PushProvider>
  rateLimiter: RateLimiter
  metrics: Metrics
  logger: Logger
  clock: Clock
  random?: () => number
}

export interface Notifier {
  start(): Promise<void>
  stop(): Promise<void>
  /** Jobs held in batch windows right now. */
  held(): number
}

interface Held {
  message: PushQueueMessage
  job: PushJob
}

const DAY_MS = 86_400_000
const PRUNE_EVERY_MS = 3_600_000

export function createNotifier(config: PushConfig, deps: NotifierDeps): Notifier {
  const {sql, queue, logger, metrics, clock} = deps
  const random = deps.random ?? Math.random
  const batcher = new DeviceBatcher<Held>({windowMs: config.windowMs, maxBatch: config.maxBatch})
  const rate: RateRule = {ratePerSec: config.ratePerMinute / 60, burst: config.burst}
  const backoff: BackoffRule = {baseMs: config.backoffBaseMs, maxMs: config.backoffMaxMs, maxAttempts: config.maxAttempts}
  const flushing = new Set<Promise<void>>()
  let consumer: PushQueueConsumer | undefined
  let timer: NodeJS.Timeout | undefined
  let keepAlive: NodeJS.Timeout | undefined
  let pruneTimer: NodeJS.Timeout | undefined
  let stopped = false

  const schedule = () => {
    clearTimeout(timer)
    timer = undefined
    if (stopped) return
    const next = batcher.nextDueAt()
    if (next === undefined) return
    timer = setTimeout(tick, Math.max(0, next - clock.now()))
  }

  const tick = () => {
    for (const batch of batcher.takeDue(clock.now())) {
      const run = flush(batch)
        .catch((error) => {
          // A database failure: the jobs go back and come again (it counts as an attempt).
          logger.error({err: error, device: batch.device}, 'push batch failed; handing its jobs back')
          for (const held of batch.items) held.message.nak(config.backoffBaseMs)
        })
        .finally(() => flushing.delete(run))
      flushing.add(run)
    }
    schedule()
  }

  const onMessage = (message: PushQueueMessage) => {
    if (stopped) return message.nak()
    const job = decodeJob(message.data)
    if (!job) {
      logger.error('malformed push job; dead-lettering it')
      void queue
        .deadLetter({data: message.data, reason: 'malformed job', attempts: message.deliveryCount})
        .then(() => message.ack(), () => message.nak(config.backoffBaseMs))
      return
    }
    batcher.add(job.device, {message, job}, clock.now())
    schedule()
  }

  async function flush(batch: Batch<Held>): Promise<void> {
    const jobs = batch.items.map((h) => h.job)
    const attempt = Math.max(...batch.items.map((h) => h.message.deliveryCount))
    const device = await loadPushDevice(sql, batch.device)
    const base = {device: batch.device, user: device?.user ?? jobs[0]!.user, count: jobs.length, conversations: [...new Set(jobs.map((j) => j.conversation))], attempt}
    const finish = async (row: Omit<PushHistoryRow, 'id' | keyof typeof base> & Partial<typeof base>) => {
      if (device) await recordPushHistory(sql, {id: randomUUID(), ...base, ...row}, new Date(clock.now()))
    }
    const ackAll = () => {
      for (const held of batch.items) held.message.ack()
    }

    const reason = !device
      ? 'device is gone'
      : device.revoked
        ? 'device is logged out'
        : !device.target
          ? 'device has no push registration'
          : !device.prefs.enabled
            ? 'notifications are off on this device'
            : !deps.providers.has(device.target.provider)
              ? `provider ${device.target.provider} is not configured on this node`
              : undefined
    if (reason || !device?.target) {
      await finish({status: 'dropped', provider: device?.target?.provider ?? null, title: null, body: null, detail: reason ?? 'no target', providerId: null})
      metrics.pushFailed.inc({provider: device?.target?.provider ?? 'none', failure: 'dropped'})
      return ackAll()
    }

    const decision = await deps.rateLimiter.take(`push:${batch.device}`, rate)
    if (!decision.ok) {
      // Held, not retried: whatever else arrives meanwhile joins the same notification.
      for (const held of batch.items) held.message.working()
      batcher.defer(batch, clock.now() + decision.retryAfterMs)
      schedule()
      return
    }

    const target = device.target
    const names = await senderNames(sql, jobs.map((j) => j.sender))
    const notification = summarise(jobs, names, device.prefs, inQuietHours(device.prefs, clock.now()))
    const last = jobs[jobs.length - 1]!
    const data = {conversation: last.conversation, seq: String(notification.latest[last.conversation] ?? last.seq), conversations: notification.conversations.join(',')}
    const provider = deps.providers.get(target.provider)!
    const outcome: PushOutcome = await provider.send(target, notification, data).catch((error: unknown) => ({
      ok: false as const,
      failure: 'transient' as const,
      reason: error instanceof Error ? error.message : String(error),
    }))
    const shown = {provider: target.provider, title: notification.title, body: notification.body, count: notification.count}

    if (outcome.ok) {
      await finish({status: 'sent', ...shown, detail: null, providerId: outcome.id ?? null})
      metrics.pushSent.inc({provider: target.provider})
      return ackAll()
    }
    metrics.pushFailed.inc({provider: target.provider, failure: outcome.failure})
    if (outcome.failure === 'expired') {
      await removeDeadToken(sql, batch.device, target.token)
      await finish({status: 'token_removed', ...shown, detail: outcome.reason, providerId: null})
      logger.info({device: batch.device, provider: target.provider, reason: outcome.reason}, 'push token expired; removed')
      return ackAll()
    }
    const next = outcome.failure === 'rejected' ? ({action: 'dead_letter'} as const) : afterFailure(attempt, backoff, random())
    if (next.action === 'retry') {
      await finish({status: 'retrying', ...shown, detail: `${outcome.reason}; retry in ${next.delayMs} ms`, providerId: null})
      for (const held of batch.items) held.message.nak(next.delayMs)
      return
    }
    const why = `${outcome.failure}: ${outcome.reason}`
    for (const held of batch.items) {
      await queue.deadLetter({data: held.message.data, reason: why, attempts: held.message.deliveryCount})
      held.message.ack()
    }
    metrics.pushDeadLettered.inc({provider: target.provider}, batch.items.length)
    await finish({status: 'dead_lettered', ...shown, detail: why, providerId: null})
    logger.warn({device: batch.device, provider: target.provider, attempts: attempt, reason: why}, 'push notification dead-lettered')
  }

  return {
    async start() {
      consumer = await queue.consume(onMessage)
      // Jobs held in a window or by the rate limit must not time out at the queue meanwhile.
      keepAlive = setInterval(() => {
        for (const held of batcher.items()) held.message.working()
      }, Math.max(500, Math.floor(config.ackWaitMs / 3)))
      keepAlive.unref()
      if (config.historyDays > 0) {
        // Every worker prunes; the deletes are idempotent and bounded per statement.
        const prune = () =>
          void prunePushHistory(sql, new Date(clock.now() - config.historyDays * DAY_MS))
            .then((deleted) => deleted > 0 && logger.info({deleted, days: config.historyDays}, 'pruned push history'))
            .catch((error) => logger.warn({err: error}, 'pruning push history failed'))
        prune()
        pruneTimer = setInterval(prune, PRUNE_EVERY_MS)
        pruneTimer.unref()
      }
    },
    async stop() {
      stopped = true
      clearTimeout(timer)
      clearInterval(keepAlive)
      clearInterval(pruneTimer)
      for (const held of batcher.drain()) held.message.nak()
      await Promise.allSettled([...flushing])
      await consumer?.stop()
    },
    held: () => batcher.size(),
  }

}
