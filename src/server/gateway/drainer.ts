import type {Clock} from '../../core/ports.js'
import {CLOSE} from '../../errors.js'
import type {Connection} from './connection.js'

// Empties a gateway over a deadline without a thundering herd: every client is told where to go and
// after a jittered delay, those that do not leave on their own are closed in even slices (1012), and
// whatever is left at the deadline is closed at once.

export interface DrainOrder {
  deadlineAt: number
  force: boolean
  reason: string
}

export interface DrainHandle {
  /** Resolves when every connection is gone (or the drain was cancelled). */
  done: Promise<void>
  cancel(): void
}

const SLICE_MS = 250
const MAX_JITTER_MS = 5000

export function startDrain(
  connections: () => Connection[],
  order: DrainOrder,
  options: {clock: Clock; target: (userId: string) => string | undefined},
): DrainHandle {
  let cancelled = false
  const span = Math.max(0, order.deadlineAt - options.clock.now())
  for (const conn of connections()) {
    const url = options.target(conn.identity.userId)
    const after = order.force ? 0 : Math.floor(Math.random() * Math.min(MAX_JITTER_MS, span / 2))
    conn.event(url ? {ev: 'reconnect', reason: order.reason, url, after} : {ev: 'reconnect', reason: order.reason, after})
  }
  const close = (list: Connection[]) => {
    for (const conn of list) conn.ws.close(CLOSE.serviceRestart, order.reason)
  }
  const done = (async () => {
    if (!order.force) {
      while (!cancelled && options.clock.now() < order.deadlineAt) {
        await sleep(SLICE_MS)
        const open = connections()
        if (open.length === 0) return
        const slicesLeft = Math.max(1, Math.floor((order.deadlineAt - options.clock.now()) / SLICE_MS))
        // Leave the first stretch to clients that follow the reconnect event themselves.
        if (options.clock.now() < order.deadlineAt - span / 2) continue
        close(open.slice(0, Math.ceil(open.length / slicesLeft)))
      }
    }
    if (cancelled) return
    close(connections())
    await sleep(1000)
    for (const conn of connections()) conn.ws.terminate()
  })()
  return {
    done,
    cancel() {
      cancelled = true
    },
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
