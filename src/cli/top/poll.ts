import type {AdminClient} from '../../control-plane/admin-client.js'
import {advance, ratesKnown, type TopSample, type TopState} from './model.js'

// The I/O side of `msgr top`: polling the control plane. What the polls mean is in model.ts.

export type TopClient = Pick<AdminClient, 'status' | 'nodes'>

export interface SnapshotOptions {
  intervalMs: number
  /** Give up waiting for rates after this long and answer without them (default: 2 heartbeats plus a poll). */
  maxWaitMs?: number
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

export async function fetchSample(client: TopClient, now: () => number = Date.now): Promise<TopSample> {
  const [status, {nodes}] = await Promise.all([client.status(), client.nodes()])
  return {at: now(), status, nodes}
}

/**
 * One snapshot for scripts (`msgr top --json`, or stdout not a terminal). Rates need two heartbeats of each
 * node, so it polls every `intervalMs` until every live node has them, or `maxWaitMs` passes.
 */
export async function snapshot(client: TopClient, options: SnapshotOptions): Promise<TopState> {
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const giveUpAt = now() + (options.maxWaitMs ?? 4000 + options.intervalMs)
  let state = advance(undefined, await fetchSample(client, now))
  while (!ratesKnown(state) && now() + options.intervalMs <= giveUpAt) {
    await sleep(options.intervalMs)
    state = advance(state, await fetchSample(client, now))
  }
  return state
}
