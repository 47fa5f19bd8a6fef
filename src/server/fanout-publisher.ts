import {type Delivery, encodeJson, type SendOutcome} from '../core/envelope.js'
import {type FanoutItem, mergeNodeBatches, planFanout} from '../core/fanout.js'
import type {Logger} from '../core/logger.js'
import type {Bus, ConnectionRegistry} from '../core/ports.js'
import type {Metrics} from './metrics.js'

// Looks up where recipients are connected and publishes one batch per gateway (acks ride along).

export interface FanoutPublisher {
  publish(items: readonly FanoutItem[], acks?: readonly (SendOutcome & {node: string})[]): Promise<void>
}

export function createFanoutPublisher(deps: {bus: Bus; registry: ConnectionRegistry; metrics: Metrics; logger: Logger}): FanoutPublisher {
  return {
    async publish(items, acks = []) {
      const users = new Set<string>()
      for (const item of items) for (const user of item.recipients) users.add(user)
      let deliveries = new Map<string, Delivery[]>()
      if (users.size > 0) {
        try {
          deliveries = planFanout(items, await deps.registry.lookup([...users]))
        } catch (error) {
          // Live delivery is best effort; every device catches up with sync. Acks must still go out.
          deps.logger.warn({err: error}, 'route lookup failed; skipping live fanout for this batch')
        }
      }
      for (const [node, batch] of mergeNodeBatches(acks, deliveries)) {
        deps.bus.publishNode(node, encodeJson(batch))
        deps.metrics.busMessages.inc()
      }
    },
  }
}
