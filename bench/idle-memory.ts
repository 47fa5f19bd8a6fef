import {findServices} from './cluster.js'
import {buildWorkload, DELIVERY_DEFAULTS, type DeliveryOptions, type Live, type PlanEntry, setUp, tearDown, TARGETS} from './delivery.js'
import {prepareEmbeddedTemplate, type TargetSpec} from './delivery-servers.js'
import {fmtInt, progress, round} from './measure.js'
import type {Table} from './table.js'

// Idle memory per WebSocket connection only, without the delivery ramp: the servers of the delivery
// benchmark (same processes, same memory hook, same warm-up baseline), many more idle clients.

export interface IdleMemoryOptions {
  clients: number
  /** Targets to measure: ws (bare ws, the floor), msgr-all, msgr-split (the gateway process). */
  targets: string[]
  requireServices: boolean
}

export const IDLE_MEMORY_DEFAULTS: IdleMemoryOptions = {
  clients: Number(process.env.MSGR_BENCH_IDLE_CLIENTS ?? 5000),
  targets: (process.env.MSGR_BENCH_IDLE_TARGETS ?? 'ws,msgr-all,msgr-split').split(',').filter(Boolean),
  requireServices: process.env.MSGR_REQUIRE_SERVICES === '1',
}

export interface IdleMemoryResult {
  clients: number
  targets: Array<{name: string; label: string; connections: number; rssBytesPerConnection: number; heapBytesPerConnection: number; met: boolean}>
  skipped: string[]
}

export async function benchIdleMemory(options: IdleMemoryOptions = IDLE_MEMORY_DEFAULTS): Promise<{result: IdleMemoryResult; tables: Table[]}> {
  const delivery: DeliveryOptions = {...DELIVERY_DEFAULTS, clients: options.clients, variants: false}
  const workload = buildWorkload(delivery)
  const result: IdleMemoryResult = {clients: options.clients, targets: [], skipped: []}
  const wanted = (name: string) => options.targets.includes(name)
  const found = wanted('msgr-split') ? await findServices() : undefined
  const services = found && 'urls' in found ? found.urls : undefined
  if (found && !services) {
    const reason = `cannot reach ${'missing' in found ? found.missing.join(', ') : ''}`
    if (options.requireServices) throw new Error(`MSGR_REQUIRE_SERVICES=1 and ${reason}`)
    process.stdout.write(`\n!!! SKIPPING msgr on services: ${reason}\n`)
    result.skipped.push(`msgr-split: ${reason}`)
  }
  const template = wanted('msgr-all') ? await prepareTemplate(options.clients) : undefined
  const plan: PlanEntry[] = [
    ...(wanted('ws') ? [{name: 'ws', label: 'bare ws (floor)', spec: {kind: 'ws'} as TargetSpec, codec: 'json' as const}] : []),
    ...(template ? [{name: 'msgr-all', label: 'msgr serve all (PGlite)', spec: {kind: 'msgr-all', template} as TargetSpec, codec: 'json' as const}] : []),
    ...(services ? [{name: 'msgr-split', label: 'msgr gateway (NATS/PG/Redis)', spec: {kind: 'msgr-split', services} as TargetSpec, codec: 'json' as const}] : []),
  ]
  try {
    // One target at a time: only one server and its idle clients hold memory while it is measured.
    for (const entry of plan) {
      const live: Live = await setUp(entry, workload, delivery)
      await tearDown(live)
      const m = live.result.idleMemory
      result.targets.push({
        name: entry.name,
        label: entry.label,
        connections: m.connections,
        rssBytesPerConnection: m.rssBytesPerConnection,
        heapBytesPerConnection: m.heapBytesPerConnection,
        met: m.heapBytesPerConnection <= TARGETS.bytesPerIdleConnection,
      })
    }
  } finally {
    template?.remove()
  }
  const floor = result.targets.find((t) => t.name === 'ws')
  return {
    result,
    tables: [
      {
        title: `Idle memory per WebSocket connection (${fmtInt(options.clients)} clients, ${fmtInt(delivery.warmConnections)} warm-up)`,
        columns: ['target', 'connections', 'RSS B/conn', 'heap+ext B/conn', '÷ bare ws', `≤ ${fmtInt(TARGETS.bytesPerIdleConnection)} B`],
        rows: result.targets.map((t) => [
          t.label,
          fmtInt(t.connections),
          fmtInt(t.rssBytesPerConnection),
          fmtInt(t.heapBytesPerConnection),
          floor ? `${round(t.heapBytesPerConnection / floor.heapBytesPerConnection, 2)}×` : '-',
          t.met ? 'yes' : 'NO',
        ]),
        notes: ['(after − before) ÷ connections, read by the server after a forced GC; before = with the warm-up connections open. heap+ext is the steadier figure.'],
      },
    ],
  }
}

async function prepareTemplate(clients: number) {
  progress(`idle: issuing ${fmtInt(clients)} users' tokens into an embedded data directory`)
  return prepareEmbeddedTemplate(clients)
}
