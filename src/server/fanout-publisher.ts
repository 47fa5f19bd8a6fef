import {type Delivery, encodeJson, type SendOutcome} from '../core/envelope.js'
import {FANOUT, type FanoutItem, fanoutStrategy, mergeNodeBatches, planFanout} from '../core/fanout.js'
import type {Logger} from '../core/logger.js'
import type {Bus, ConnectionRegistry, Route} from '../core/ports.js'
import type {Metrics} from './metrics.js'
import type {PushPlanner} from './push/planner.js'

// Looks up where recipients are connected and publishes one batch per gateway (acks ride along).

export interface FanoutPublisher {
  publish(items: readonly FanoutItem[], acks?: readonly (SendOutcome & {node: string})[]): Promise<void>
}

export function createFanoutPublisher(deps: {bus: Bus; registry: ConnectionRegistry; metrics: Metrics; logger: Logger; push?: Pick<PushPlanner, 'eligible' | 'plan'>}): FanoutPublisher {
  return {
    async publish(items, acks = []) {
      const users = new Set<string>()
      for (const item of items) for (const user of item.recipients) users.add(user)
      let deliveries = new Map<string, Delivery[]>()
      let routes: Map<string, Route[]> | undefined
      if (users.size > 0) {
        const planFailed = (error: unknown) => deps.logger.error({err: error}, 'push planning failed; no notifications for this batch')
        // Who may get a push does not depend on where people are connected: that query runs beside the route lookup.
        const eligibility = deps.push?.eligible(items).catch((error: unknown) => void planFailed(error))
        try {
          routes = await lookupRoutes(deps.registry, [...users])
          deliveries = planFanout(items, routes)
        } catch (error) {
          // Live delivery is best effort; every device catches up with sync. Acks must still go out.
          deps.logger.warn({err: error}, 'route lookup failed; skipping live fanout for this batch')
        }
        // Offline devices get push jobs (queued before the caller acks its batch); live ones ride with their delivery.
        const eligible = await eligibility
        if (eligible) await deps.push!.plan(eligible, routes, deliveries).catch(planFailed)
      }
      for (const item of items) deps.metrics.fanouts.inc({strategy: fanoutStrategy(item.recipients.length)})
      for (const [node, batch] of mergeNodeBatches(acks, deliveries)) {
        deps.bus.publishNode(node, encodeJson(batch))
        deps.metrics.busMessages.inc()
      }
    },
  }
}

/** Staged lookups for large audiences: chunks of users, one pipeline each, all in flight together. */
async function lookupRoutes(registry: ConnectionRegistry, users: string[]): Promise<Map<string, Route[]>> {
  if (fanoutStrategy(users.length) !== 'staged') return registry.lookup(users)
  const chunks: string[][] = []
  for (let i = 0; i < users.length; i += FANOUT.lookupChunk) chunks.push(users.slice(i, i + FANOUT.lookupChunk))
  const merged = new Map<string, Route[]>()
  for (const part of await Promise.all(chunks.map((chunk) => registry.lookup(chunk)))) {
    for (const [node, routes] of part) merged.set(node, [...(merged.get(node) ?? []), ...routes])
  }
  return merged
}
