import type {Delivery, DevicePush} from '../../core/envelope.js'
import type {FanoutItem} from '../../core/fanout.js'
import type {Logger} from '../../core/logger.js'
import type {Route, Sql} from '../../core/ports.js'
import {encodeJob, jobFor, notifies} from '../../core/push/job.js'
import type {PushQueue} from '../../core/push/queue.js'
import {pushableDevices} from '../../core/store/push-tokens.js'
import type {MessageEvent} from '../../protocol/frames.js'
import type {Metrics} from '../metrics.js'

// Which devices get a push for a fanout. A device with no live route gets its job queued here, by the
// worker, before the ingest batch is acked. A device that has a route travels with the delivery to its
// gateway; that gateway queues the job itself if the device's socket is gone by the time the event
// arrives (missed()), so a device that disconnects while the message is in flight still gets its push.

export interface PushPlanner {
  /** Which devices of a batch's recipients may get a push (one query); independent of routes, so it runs beside their lookup. */
  eligible(items: readonly FanoutItem[]): Promise<PushEligibility | undefined>
  /** Queues jobs for eligible devices with no live route and attaches the others to their deliveries. */
  plan(eligibility: PushEligibility, routes: ReadonlyMap<string, readonly Route[]> | undefined, deliveries: Map<string, Delivery[]>): Promise<void>
  /** Gateway side: these devices were expected on this gateway but had no open socket. */
  missed(event: MessageEvent, devices: readonly DevicePush[]): Promise<void>
}

export interface PushEligibility {
  candidates: Array<FanoutItem & {event: MessageEvent}>
  /** `conversation|user` → that user's devices that may get a push for it. */
  byPair: Map<string, DevicePush[]>
}

export function createPushPlanner(deps: {sql: Sql; queue: PushQueue; metrics: Metrics; logger: Logger}): PushPlanner {
  const enqueue = async (jobs: Uint8Array[], source: 'worker' | 'gateway') => {
    await Promise.all(jobs.map((job) => deps.queue.publish(job)))
    if (jobs.length > 0) deps.metrics.pushQueued.inc({source}, jobs.length)
  }

  return {
    async eligible(items) {
      const candidates = items.filter((item): item is FanoutItem & {event: MessageEvent} => notifies(item.event))
      if (candidates.length === 0) return undefined
      const pairs = new Map<string, {conversation: string; user: string}>()
      for (const item of candidates) {
        for (const user of item.recipients) {
          // Nobody gets a push for their own message.
          if (user !== item.event.sender) pairs.set(`${item.event.conversation}|${user}`, {conversation: item.event.conversation, user})
        }
      }
      const eligible = await pushableDevices(deps.sql, [...pairs.values()])
      if (eligible.length === 0) return undefined
      const byPair = new Map<string, DevicePush[]>()
      for (const row of eligible) {
        const key = `${row.conversation}|${row.user}`
        let devices = byPair.get(key)
        if (!devices) byPair.set(key, (devices = []))
        devices.push({user: row.user, device: row.device})
      }
      return {candidates, byPair}
    },

    async plan({candidates, byPair}, routes, deliveries) {
      const liveNodes = new Map<string, Set<string>>()
      for (const [node, list] of routes ?? []) {
        for (const route of list) {
          let nodes = liveNodes.get(route.deviceId)
          if (!nodes) liveNodes.set(route.deviceId, (nodes = new Set()))
          nodes.add(node)
        }
      }
      // Which delivery on which node carries which event (planFanout reuses the item's event object).
      const byEvent = new Map<unknown, Map<string, Delivery>>()
      for (const [node, list] of deliveries) {
        for (const delivery of list) {
          let nodes = byEvent.get(delivery.event)
          if (!nodes) byEvent.set(delivery.event, (nodes = new Map()))
          nodes.set(node, delivery)
        }
      }
      const offline: Uint8Array[] = []
      for (const item of candidates) {
        for (const user of item.recipients) {
          for (const target of byPair.get(`${item.event.conversation}|${user}`) ?? []) {
            const nodes = liveNodes.get(target.device)
            if (!nodes) {
              offline.push(encodeJob(jobFor(item.event, target.user, target.device)))
              continue
            }
            for (const node of nodes) {
              const delivery = byEvent.get(item.event)?.get(node)
              if (delivery) (delivery.push ??= []).push(target)
              else offline.push(encodeJob(jobFor(item.event, target.user, target.device)))
            }
          }
        }
      }
      await enqueue(offline, 'worker')
    },

    async missed(event, devices) {
      await enqueue(
        devices.map((d) => encodeJob(jobFor(event, d.user, d.device))),
        'gateway',
      ).catch((error) => deps.logger.error({err: error, devices: devices.length}, 'cannot queue push jobs for devices that missed a message'))
    },
  }
}
