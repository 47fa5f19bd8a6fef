import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runSlice} from '../../src/simulator/engine.js'
import {validateScenario} from '../../src/simulator/scenario.js'
import type {Progress, SliceResult} from '../../src/simulator/types.js'
import {sleep, waitFor} from '../../src/server/local-cluster.js'
import {haveServices} from '../helpers/services.js'
import {type ChaosCluster, JWT_SECRET, type NodeName, PARTITIONS, startChaosCluster} from './chaos-cluster.js'
import {privateServicesUnavailable} from './private-services.js'
import {createProbe, type Probe} from './probe.js'

// Fault tests on real processes (the built binary): while the simulator's virtual clients send, kill -9
// a gateway, a worker and the control-plane leader, and restart NATS and Postgres (private instances,
// never the machine's shared ones). After each fault: how long until a send to every partition is
// acknowledged again, and until every virtual client is connected again. At the end the simulator's
// audit: no acknowledged message lost (every one at every recipient device after the final sync), none
// stored twice, no two messages at one seq (one gapless order per conversation).
//
// `npm test` runs one round with light traffic (about two minutes); `npm run chaos` (MSGR_CHAOS_FULL=1)
// runs three rounds with more users and a higher rate, and prints the same table.

const FULL = process.env.MSGR_CHAOS_FULL === '1'
const ROUNDS = FULL ? 3 : 1
const USERS = FULL ? 120 : 30
const RATE = FULL ? 40 : 15
const RECOVERY_LIMIT_MS = 60_000

const unavailable = privateServicesUnavailable()
if (unavailable) console.warn(`\n!!! SKIPPING the chaos suite — ${unavailable}: it needs a private nats-server and Postgres 15\n`)
const runnable = !unavailable && (await haveServices('redis'))

interface Fault {
  name: string
  /** Injects the fault; returns the moment it took effect. */
  inject(cluster: ChaosCluster, probe: Probe): Promise<number>
  /** Puts the topology back (restart what was killed). */
  heal?(cluster: ChaosCluster): Promise<void>
  /** An extra figure to report (ms), e.g. leader re-election. */
  extra?(cluster: ChaosCluster, since: number): Promise<{label: string; ms: number}>
}

const killAndRestart = (name: NodeName, before?: (cluster: ChaosCluster, probe: Probe) => Promise<void>): Pick<Fault, 'inject' | 'heal'> => ({
  async inject(cluster, probe) {
    await before?.(cluster, probe)
    const at = Date.now()
    await cluster.kill(name)
    return at
  },
  heal: (cluster) => cluster.restart(name),
})

const FAULTS: Fault[] = [
  // The probe's own socket is on the gateway that dies: it must find the other one.
  {name: 'kill -9 gateway', ...killAndRestart('gw1', (cluster, probe) => probe.pin(cluster.node('gw1').url))},
  {name: 'kill -9 worker', ...killAndRestart('wk1')},
  {
    name: 'kill -9 control-plane leader',
    async inject(cluster) {
      const leader = (await cluster.leader())!
      const at = Date.now()
      await cluster.kill(leader)
      this.heal = (c) => c.restart(leader)
      return at
    },
    async extra(cluster, since) {
      await waitFor(async () => (await cluster.leader()) !== undefined, RECOVERY_LIMIT_MS, 100)
      return {label: 'new leader', ms: Date.now() - since}
    },
  },
  {
    name: 'restart NATS (kill -9, 1 s down)',
    async inject(cluster) {
      const at = Date.now()
      await cluster.nats.restart(1000)
      return at
    },
  },
  {
    name: 'restart Postgres (immediate, 1 s down)',
    async inject(cluster) {
      const at = Date.now()
      await cluster.postgres.restart(1000)
      return at
    },
  },
]

interface Row {
  round: number
  fault: string
  sendsMs: number
  clientsMs: number
  extra?: string
}

describe.runIf(runnable)('chaos: faults under traffic, on real processes', () => {
  let cluster: ChaosCluster
  let probe: Probe

  beforeAll(async () => {
    cluster = await startChaosCluster()
    probe = await createProbe({databaseUrl: cluster.postgres.url, jwtSecret: JWT_SECRET, routerUrl: cluster.routerUrl, partitions: PARTITIONS})
  }, 180_000)
  afterAll(async () => {
    await probe?.close()
    await cluster?.stop()
  })

  it(`loses no acknowledged message through ${ROUNDS} round(s) of gateway, worker, leader, NATS and Postgres faults`, async () => {
    const controller = new AbortController()
    let latest: Progress | undefined
    const scenario = validateScenario({
      name: 'chaos',
      users: USERS,
      rate: {messagesPerSecond: RATE, maxInFlight: 200},
      phases: {rampUp: 3, steady: 3600, rampDown: 1, settle: 30},
      churn: {perHour: 0},
      media: {share: 0},
      typing: {share: 0.05},
      login: {concurrency: 8},
    })
    const traffic: Promise<SliceResult> = runSlice(
      {
        runId: `chaos-${Date.now()}`,
        seed: 0xc4a05,
        scenario,
        target: {url: cluster.routerUrl, via: 'control-plane'},
        users: {from: 0, count: USERS},
        auth: {databaseUrl: cluster.postgres.url, jwtSecret: JWT_SECRET},
      },
      {onProgress: (p) => (latest = p), signal: controller.signal},
    )
    await waitFor(() => latest?.phase === 'steady' && latest.acked > RATE, 120_000, 200)
    await probe.recovery(Date.now(), RECOVERY_LIMIT_MS) // the probe's socket is open
    // Every virtual device and the probe.
    const sockets = latest!.devices + 1
    await waitFor(async () => (await cluster.connections()) >= sockets, 60_000, 200).catch(async (error: unknown) => {
      throw new Error(`${(await cluster.connections())} sockets open, ${sockets} expected (${latest!.connections} devices connected)`, {cause: error})
    })

    const rows: Row[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      for (const fault of FAULTS) {
        try {
          await probe.recovery(Date.now(), RECOVERY_LIMIT_MS) // healthy before the fault
          const at = await fault.inject(cluster, probe)
          const extra = fault.extra?.(cluster, at)
          const clients = waitFor(async () => (await cluster.connections()) >= sockets, RECOVERY_LIMIT_MS, 100).then(() => Date.now() - at)
          const sendsMs = await probe.recovery(at, RECOVERY_LIMIT_MS)
          const clientsMs = await clients
          const figure = await extra
          rows.push({round, fault: fault.name, sendsMs, clientsMs, extra: figure && `${figure.label} ${figure.ms} ms`})
          await fault.heal?.(cluster)
          await waitFor(async () => (await cluster.partitionsOwned()) === PARTITIONS && (await cluster.leader()) !== undefined, RECOVERY_LIMIT_MS, 200)
          await sleep(FULL ? 5000 : 1000) // traffic on the healed topology before the next fault
        } catch (error) {
          console.log(`chaos: round ${round}, "${fault.name}" failed after:\n${rows.map((r) => JSON.stringify(r)).join('\n')}\n${diagnose(cluster)}`)
          throw error
        }
      }
    }

    controller.abort()
    const result = await traffic
    printTable(rows, result)

    expect(result.counters.acked).toBeGreaterThan(RATE * 10)
    // The brief's bar: nothing acknowledged lost, no duplicates after dedup (by seq), order intact.
    expect(result.audit.missing, 'acknowledged messages missing at a recipient after the final sync').toBe(0)
    expect(result.audit.duplicated, 'acknowledged messages stored twice').toBe(0)
    expect(result.audit.seqConflicts, 'two messages at one seq').toBe(0)
    // Live arrival order is not asserted: after a worker is killed between its commit and its stream ack,
    // the next owner answers the redelivered send as a duplicate and fans it out again, possibly after
    // higher seqs went out live. Clients dedup by seq and fill gaps with sync (protocol.md, `message`),
    // so what they show is in order: the stored order is what the three checks above and `missing` pin.
    expect(result.audit.expected).toBeGreaterThan(0)
  }, 900_000)
})

/** The warnings and errors each node logged last. */
function diagnose(cluster: ChaosCluster): string {
  return (['cp1', 'cp2', 'gw1', 'gw2', 'wk1', 'wk2'] as const)
    .map((name) => {
      const node = cluster.node(name)
      const lines = node.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-5)
      return `${name} (${node.url}, exit ${node.proc.exitCode ?? node.proc.signalCode ?? 'running'}):\n  ${lines.join('\n  ')}`
    })
    .join('\n')
}

function printTable(rows: Row[], result: SliceResult): void {
  const lines = [
    '',
    `chaos: ${result.users} users, ${result.devices} devices, ${result.counters.acked} messages acknowledged, ${result.audit.expected} deliveries audited`,
    'round | fault                                   | sends to every partition ok | all sockets open again | other',
    '------|-----------------------------------------|-----------------------------|------------------------|------',
    ...rows.map((r) => `${String(r.round).padEnd(5)} | ${r.fault.padEnd(39)} | ${`${r.sendsMs} ms`.padEnd(27)} | ${`${r.clientsMs} ms`.padEnd(22)} | ${r.extra ?? ''}`),
    `audit: missing ${result.audit.missing}, duplicated ${result.audit.duplicated}, seq conflicts ${result.audit.seqConflicts}, live out of order ${result.audit.outOfOrder} (late re-deliveries, removed by dedup), ` +
      `recovered by sync ${result.audit.recoveredBySync}, live misses ${result.audit.liveMisses}, redelivered ${result.audit.redelivered} (removed by dedup)`,
    `send errors ${result.counters.sendErrors} (retried by the simulator with the same clientMsgId), reconnects ${result.counters.reconnects}`,
    '',
  ]
  console.log(lines.join('\n'))
}
