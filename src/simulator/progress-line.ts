import type {Progress} from './types.js'

// One line of progress for logs and pipes (the dashboard shows the same figures on a terminal).

export function progressLine(p: Progress): string {
  const ms = (v: number | undefined) => (v === undefined ? '-' : `${v}ms`)
  const a = p.audit
  return [
    `[${(p.elapsedMs / 1000).toFixed(0).padStart(4)}s]`,
    p.phase.padEnd(10),
    `conn ${p.connections}/${p.devices}`,
    `sent ${p.sent}`,
    `acked ${p.acked} (${p.ackRate}/s)`,
    `delivered ${p.deliveredEvents}`,
    `p50 ${ms(p.deliveryP50Ms)} p99 ${ms(p.deliveryP99Ms)}`,
    `ack p99 ${ms(p.ackP99Ms)}`,
    `pending ${p.pending}`,
    ...(p.finalSync ? [`final sync ${p.finalSync.done}/${p.finalSync.total} behind`] : []),
    `errors ${p.errors}`,
    ...(a.duplicated || a.seqConflicts || a.outOfOrder ? [`dup ${a.duplicated} conflicts ${a.seqConflicts} ooo ${a.outOfOrder}`] : []),
  ].join('  ')
}
