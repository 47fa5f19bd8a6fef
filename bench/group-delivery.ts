import * as hdr from 'hdr-histogram-js'

import {loginWithDevOtp, MsgrClient, type TokenPair} from '../src/client/client.js'
import {encodeJson, type NodeBatch} from '../src/core/envelope.js'
import {mergeNodeBatches, planFanout} from '../src/core/fanout.js'
import {newId} from '../src/core/ids.js'
import type {Bus, ConnectionRegistry} from '../src/core/ports.js'
import {LIMITS, type MessageEvent} from '../src/protocol/frames.js'
import type {RunningNode} from '../src/server/node.js'
import {type BenchCluster, findServices, type Leg, type ServiceUrls, startBenchCluster, waitFor} from './cluster.js'
import {collectGarbage, fmtInt, fmtRatio, median, progress, round} from './measure.js'
import type {Table} from './table.js'

// Group messages end to end on an in-process cluster (2 gateways + 1 worker): real HTTP logins, real
// WebSockets, `send` through the worker to every member's socket. Latency is arrival − send start on
// the one process clock. Baseline, same run, same sockets: the naive design of one bus message per
// recipient, against msgr's one bus message per gateway, both published straight onto the cluster's bus.

export interface GroupSize {
  members: number
  /** Group messages to send end to end... */
  messages: number
  /** ...and to publish per round and side in the transport comparison (cheap: no worker, no database)... */
  transportMessages: number
  /** ...or stop after this long, whichever comes first. */
  maxMs: number
}

export interface GroupBenchOptions {
  sizes: readonly GroupSize[]
  gateways: number
  /** Members that take turns sending (users 0..senders-1, spread over both gateways). */
  senders: number
  /** Group messages in flight at once; one leaves the window when every member has it (closed loop). */
  inFlight: number
  /** Concurrent logins and socket connects. */
  connectConcurrency: number
  /** Alternating rounds of baseline and msgr in the transport comparison. */
  transportRounds: number
  /** A message not fully delivered after this long counts as lost and frees its slot. */
  deliveryTimeoutMs: number
  /** Fail instead of skipping when Postgres, Redis or NATS cannot be reached (CI). */
  requireServices: boolean
}

export const GROUP_DEFAULTS: GroupBenchOptions = {
  sizes: [
    {members: 10, messages: 200, transportMessages: 1000, maxMs: 8_000},
    {members: 250, messages: 50, transportMessages: 100, maxMs: 8_000},
    {members: 5000, messages: 10, transportMessages: 10, maxMs: 15_000},
  ],
  gateways: 2,
  senders: 10,
  inFlight: 4,
  connectConcurrency: 100,
  transportRounds: 3,
  deliveryTimeoutMs: 10_000,
  requireServices: process.env.MSGR_REQUIRE_SERVICES === '1',
}

export interface DeliveryLatency {
  unit: 'ms'
  per: 'delivered message event (arrival − send start)'
  samples: number
  p50: number
  p95: number
  p99: number
  max: number
}

export interface Delivered {
  /** Group messages sent (or injected). */
  messages: number
  /** `message` events the members' sockets received. */
  deliveries: number
  /** messages × (members − 1): every member but the sender, once. */
  expected: number
  /** First send start to last arrival. */
  elapsedMs: number
  deliveriesPerSecond: number
  latency: DeliveryLatency
  stoppedBy: 'count' | 'time'
  /** Every online member except the sender got every message exactly once, nobody else got any. */
  verified: boolean
  problems: string[]
}

export interface GroupRun extends Delivered {
  leg: Leg
  members: number
  gateways: number
  /** Delta of the worker's msgr_bus_node_messages_total (acks ride in the same batches). */
  busMessages: number
  busMessagesPerGroupMessage: number
  /** Batches the worker committed (msgr_worker_batch_size count delta)... */
  workerBatches: number
  /** ...and bus messages per batch: one per gateway that hosts a recipient or waits for an ack. */
  busMessagesPerBatch: number
  /** Delta of the gateways' msgr_deliveries_total: events written to sockets, server side. */
  socketWrites: number
  /** Send start to the sender's ack. */
  ackP50Ms: number
  /** group.create + group.add until every member had the last system message. */
  setupMs: number
}

export interface TransportSide extends Delivered {
  busMessages: number
  busMessagesPerGroupMessage: number
  busMessagesPerSecond: number
}

export interface TransportRun {
  leg: Leg
  members: number
  baseline: TransportSide
  msgr: TransportSide
  /** msgr deliveries/s ÷ baseline deliveries/s. */
  ratio: number
}

export interface GroupLegResult {
  leg: Leg
  detail: string
  users: number
  loginMs: number
  connectMs: number
  runs: GroupRun[]
  transport: TransportRun[]
}

export interface GroupsResult {
  setup: {sizes: readonly GroupSize[]; gateways: number; workers: 1; senders: number; inFlight: number; transportRounds: number; body: string}
  baseline: string
  legs: GroupLegResult[]
  skipped: Array<{leg: 'services'; reason: string}>
}

export async function benchGroups(options: GroupBenchOptions = GROUP_DEFAULTS): Promise<{result: GroupsResult; tables: Table[]}> {
  const result: GroupsResult = {
    setup: {sizes: options.sizes, gateways: options.gateways, workers: 1, senders: options.senders, inFlight: options.inFlight, transportRounds: options.transportRounds, body: bodyOf(0)},
    baseline: 'one node-mailbox message per recipient connection, published on the same bus to the same gateways and sockets',
    legs: [],
    skipped: [],
  }
  result.legs.push(await benchLeg('embedded', options))

  const found = await findServices()
  if ('missing' in found) {
    const reason = `cannot reach ${found.missing.join(', ')}`
    if (options.requireServices) throw new Error(`MSGR_REQUIRE_SERVICES=1 and ${reason}`)
    process.stdout.write(
      `\n${'!'.repeat(100)}\n!!! SKIPPING the services leg of groups: ${reason}.\n` +
        `!!! Start them or set MSGR_BENCH_DATABASE_URL / MSGR_BENCH_REDIS_URL / MSGR_BENCH_NATS_URL. Embedded leg only.\n${'!'.repeat(100)}\n`,
    )
    result.skipped.push({leg: 'services', reason})
  } else {
    result.legs.push(await benchLeg('services', options, found.urls))
  }
  return {result, tables: toTables(result)}
}

async function benchLeg(leg: Leg, options: GroupBenchOptions, services?: ServiceUrls): Promise<GroupLegResult> {
  const label = `groups/${leg}`
  progress(`${label}: starting ${options.gateways} gateways + 1 worker`)
  const cluster = await startBenchCluster(leg, {gateways: options.gateways, workers: 1}, services)
  const users = Math.max(...options.sizes.map((s) => s.members))
  const fleet = new Fleet()
  try {
    let started = performance.now()
    const pairs = await loginAll(cluster, users, options.connectConcurrency, label)
    const loginMs = performance.now() - started
    started = performance.now()
    await fleet.connectAll(cluster, pairs, options.connectConcurrency, label)
    const connectMs = performance.now() - started

    const runs: GroupRun[] = []
    const transport: TransportRun[] = []
    for (const size of options.sizes) {
      const group = await createGroup(fleet, size.members, label)
      runs.push(await endToEnd(cluster, fleet, group, size, options, label))
      transport.push(await transportRun(cluster, fleet, group, size, options, label))
      fleet.clearEvents()
    }
    return {leg, detail: cluster.detail, users, loginMs: round(loginMs, 0), connectMs: round(connectMs, 0), runs, transport}
  } finally {
    progress(`${label}: closing ${fmtInt(fleet.clients.length)} sockets and stopping the nodes`)
    await fleet.closeAll()
    await cluster.stop()
  }
}

// ---- users and sockets ----

/** The benchmark's users, one device and one socket each; user i is on gateway i % gateways. */
class Fleet {
  readonly clients: MsgrClient[] = []
  readonly pairs: TokenPair[] = []
  /** Where `message` events go while a round runs. */
  onMessage: ((member: number, event: MessageEvent) => void) | undefined
  unexpectedCloses = 0
  private closing = false

  async connectAll(cluster: BenchCluster, pairs: TokenPair[], concurrency: number, label: string): Promise<void> {
    const stopTicker = ticker(() => `${label}: ${fmtInt(this.clients.filter(Boolean).length)} / ${fmtInt(pairs.length)} sockets open`)
    try {
      await pool(pairs.length, concurrency, async (i) => {
        const pair = pairs[i]!
        const client = await MsgrClient.connect(cluster.gateways[i % cluster.gateways.length]!.url, pair.accessToken, {requestTimeoutMs: 30_000})
        await client.waitForEvent((e) => e.ev === 'hello', 30_000)
        client.events.length = 0
        client.on('event', (event) => {
          client.events.length = 0 // the client keeps every event; a benchmark needs none of them afterwards
          if (event.ev === 'message') this.onMessage?.(i, event)
        })
        client.on('close', () => {
          if (!this.closing) this.unexpectedCloses++
        })
        this.clients[i] = client
        this.pairs[i] = pair
      })
    } finally {
      stopTicker()
    }
    progress(`${label}: ${fmtInt(this.clients.length)} sockets open`)
  }

  clearEvents(): void {
    for (const client of this.clients) client.events.length = 0
  }

  async closeAll(): Promise<void> {
    this.closing = true
    await Promise.all(this.clients.map((c) => c?.close().catch(() => {})))
  }
}

async function loginAll(cluster: BenchCluster, count: number, concurrency: number, label: string): Promise<TokenPair[]> {
  const pairs: TokenPair[] = new Array(count)
  let done = 0
  const started = performance.now()
  const stopTicker = ticker(() => `${label}: ${fmtInt(done)} / ${fmtInt(count)} users logged in (${fmtInt((done * 1000) / (performance.now() - started))}/s)`)
  try {
    await pool(count, concurrency, async (i) => {
      const gateway = cluster.gateways[i % cluster.gateways.length]!
      pairs[i] = await loginWithDevOtp(gateway.url, `+1555${String(i).padStart(7, '0')}`, {name: 'bench', platform: 'bench'})
      done++
    })
  } finally {
    stopTicker()
  }
  progress(`${label}: ${fmtInt(count)} users logged in through the dev OTP flow in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return pairs
}

// ---- groups ----

interface Group {
  conversation: string
  /** Members are users 0..members-1; user 0 created the group. */
  members: number
  memberIds: string[]
  setupMs: number
}

/**
 * group.create, then group.add for the rest: a 64 KiB frame holds about 1,650 UUIDs and group.add takes
 * at most LIMITS.maxMembersPerChange, so 5,000 members take one create and four adds. Returns once every
 * member's socket has the last system message, so the timed rounds start on quiet sockets.
 */
async function createGroup(fleet: Fleet, members: number, label: string): Promise<Group> {
  const started = performance.now()
  const owner = fleet.clients[0]!
  const memberIds = fleet.pairs.slice(0, members).map((p) => p.userId)
  const chunk = LIMITS.maxMembersPerChange
  // Highest seq each member has seen, per conversation: the first events can beat the owner's reply.
  const seen = new Map<string, Int32Array>()
  fleet.onMessage = (i, event) => {
    let maxSeq = seen.get(event.conversation)
    if (!maxSeq) seen.set(event.conversation, (maxSeq = new Int32Array(members)))
    if (i < members && event.seq > maxSeq[i]!) maxSeq[i] = event.seq
  }
  const created = await owner.request('group.create', {name: `bench ${members}`, members: memberIds.slice(1, chunk)})
  const conversation = created.conversation
  let lastSeq = created.seq ?? 0
  for (let from = chunk; from < members; from += chunk) {
    const added = await owner.request('group.add', {conversation, members: memberIds.slice(from, from + chunk)})
    lastSeq = added.seq ?? lastSeq
    progress(`${label}: group of ${fmtInt(members)}: ${fmtInt(Math.min(from + chunk, members))} members added`)
  }
  // The owner's own device is skipped (it got the reply), so it never sees these system messages.
  const caughtUp = () => seen.get(conversation)?.every((seq, i) => i === 0 || seq >= lastSeq) ?? members === 1
  await waitFor(caughtUp, 30_000).catch(() => {
    throw new Error(`group of ${members}: not every member saw the membership changes within 30 s`)
  })
  fleet.onMessage = undefined
  const setupMs = performance.now() - started
  progress(`${label}: group of ${fmtInt(members)} members ready in ${(setupMs / 1000).toFixed(1)} s`)
  return {conversation, members, memberIds, setupMs}
}

// ---- rounds ----

type Histogram = ReturnType<typeof hdr.build>

/** What one round counted; rounds of the same side add up (see `summarize`). */
interface RoundCounts {
  messages: number
  deliveries: number
  expected: number
  elapsedMs: number
  stoppedBy: 'count' | 'time'
  problems: string[]
}

/** Bookkeeping of one timed round: who got which message, when. */
class Round {
  readonly sentAt: number[] = []
  readonly senders: number[] = []
  received = 0
  firstAt = 0
  lastAt = 0
  lost = 0
  readonly problems: string[] = []
  private readonly ids = new Map<string, number>()
  private readonly got: number[] = []
  private readonly waiters = new Map<number, () => void>()
  /** Per message, per member: how many copies arrived (saturates at 255). */
  private readonly copies: Uint8Array
  private strays = 0

  constructor(
    readonly group: Group,
    maxMessages: number,
    /** Latency samples in µs, shared by the rounds of one side. */
    private readonly histogram: Histogram,
  ) {
    this.copies = new Uint8Array(maxMessages * group.members)
  }

  /** Registers message k just before it is sent, so an arrival can never beat its bookkeeping. */
  begin(k: number, clientMsgId: string, sender: number): void {
    const now = performance.now()
    if (k === 0) this.firstAt = now
    this.ids.set(clientMsgId, k)
    this.sentAt[k] = now
    this.senders[k] = sender
    this.got[k] = 0
  }

  /** Resolves when every member but the sender has message k, or after `timeoutMs` (then it counts as lost). */
  delivered(k: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(k)
        this.lost++
        resolve()
      }, timeoutMs)
      this.waiters.set(k, () => {
        clearTimeout(timer)
        this.waiters.delete(k)
        resolve()
      })
    })
  }

  onMessage(member: number, event: MessageEvent): void {
    if (event.conversation !== this.group.conversation) return
    const k = this.ids.get(event.clientMsgId)
    if (k === undefined) return
    const now = performance.now()
    this.histogram.recordValue(Math.max(1, Math.round((now - this.sentAt[k]!) * 1000)))
    this.received++
    this.lastAt = now
    if (member >= this.group.members) {
      this.strays++
      return
    }
    const cell = k * this.group.members + member
    if (this.copies[cell]! < 255) this.copies[cell]!++
    if (++this.got[k]! === this.group.members - 1) this.waiters.get(k)?.()
  }

  /** Checks exactly-once delivery to every member but the sender. */
  finish(sent: number, stoppedBy: 'count' | 'time'): RoundCounts {
    const members = this.group.members
    let missing = 0
    let duplicates = 0
    let toSender = 0
    for (let k = 0; k < sent; k++) {
      for (let m = 0; m < members; m++) {
        const n = this.copies[k * members + m]!
        if (m === this.senders[k]) toSender += n
        else if (n === 0) missing++
        else if (n > 1) duplicates += n - 1
      }
    }
    const problems = [...this.problems]
    if (missing > 0) problems.push(`${fmtInt(missing)} deliveries missing`)
    if (duplicates > 0) problems.push(`${fmtInt(duplicates)} duplicate deliveries`)
    if (toSender > 0) problems.push(`${fmtInt(toSender)} echoed to the sending device`)
    if (this.strays > 0) problems.push(`${fmtInt(this.strays)} delivered to non-members`)
    if (this.lost > 0) problems.push(`${fmtInt(this.lost)} messages not fully delivered in time`)
    return {
      messages: sent,
      deliveries: this.received,
      expected: sent * (members - 1),
      elapsedMs: this.lastAt > this.firstAt ? this.lastAt - this.firstAt : 0,
      stoppedBy,
      problems,
    }
  }
}

/** Adds up the rounds of one side; reads the latency percentiles and frees the histogram. */
function summarize(rounds: readonly RoundCounts[], histogram: Histogram): Delivered {
  const sum = (f: (r: RoundCounts) => number) => rounds.reduce((n, r) => n + f(r), 0)
  const elapsedMs = sum((r) => r.elapsedMs)
  const deliveries = sum((r) => r.deliveries)
  const ms = (us: number) => round(us / 1000, 2)
  const problems = rounds.flatMap((r) => r.problems)
  const delivered: Delivered = {
    messages: sum((r) => r.messages),
    deliveries,
    expected: sum((r) => r.expected),
    elapsedMs: round(elapsedMs, 1),
    deliveriesPerSecond: elapsedMs > 0 ? round((deliveries * 1000) / elapsedMs, 1) : 0,
    latency: {
      unit: 'ms',
      per: 'delivered message event (arrival − send start)',
      samples: histogram.totalCount,
      p50: ms(histogram.getValueAtPercentile(50)),
      p95: ms(histogram.getValueAtPercentile(95)),
      p99: ms(histogram.getValueAtPercentile(99)),
      max: ms(histogram.maxValue),
    },
    stoppedBy: rounds.some((r) => r.stoppedBy === 'time') ? 'time' : 'count',
    verified: problems.length === 0,
    problems,
  }
  histogram.destroy()
  return delivered
}

function newHistogram(): Histogram {
  return hdr.build({lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3})
}

/**
 * Closed loop: `inFlight` slots, each fires message k and waits until every member has it (or the
 * delivery timeout), then takes the next k, until `bounds.messages` are out or `bounds.maxMs` has passed.
 */
async function drive(
  fleet: Fleet,
  roundState: Round,
  bounds: {messages: number; maxMs: number},
  options: GroupBenchOptions,
  label: string,
  fire: (k: number) => Promise<void>,
): Promise<RoundCounts> {
  fleet.onMessage = (member, event) => roundState.onMessage(member, event)
  const closesBefore = fleet.unexpectedCloses
  const started = performance.now()
  let next = 0
  const stopTicker = ticker(
    () => `${label}: ${fmtInt(next)} / ${fmtInt(bounds.messages)} messages sent, ${fmtInt(roundState.received)} deliveries`,
  )
  const slot = async () => {
    while (next < bounds.messages && performance.now() - started < bounds.maxMs) {
      const k = next++
      const done = roundState.delivered(k, options.deliveryTimeoutMs)
      await fire(k)
      await done
    }
  }
  try {
    await Promise.all(Array.from({length: options.inFlight}, slot))
    // Late copies (duplicates) would land now; give them a moment before checking.
    await new Promise((resolve) => setTimeout(resolve, 100))
  } finally {
    stopTicker()
    fleet.onMessage = undefined
  }
  if (fleet.unexpectedCloses > closesBefore) roundState.problems.push(`${fleet.unexpectedCloses - closesBefore} sockets closed by the server`)
  const counts = roundState.finish(next, next >= bounds.messages ? 'count' : 'time')
  progress(
    `${label}: ${fmtInt(counts.messages)} messages → ${fmtInt(counts.deliveries)} / ${fmtInt(counts.expected)} deliveries in ` +
      `${(counts.elapsedMs / 1000).toFixed(2)} s (${fmtInt((counts.deliveries * 1000) / Math.max(counts.elapsedMs, 1e-3))}/s)`,
  )
  return counts
}

/** Members take turns sending through their own sockets; the worker stores, then fans out. */
async function endToEnd(cluster: BenchCluster, fleet: Fleet, group: Group, size: GroupSize, options: GroupBenchOptions, label: string): Promise<GroupRun> {
  const worker = cluster.workers[0]!
  const histogram = newHistogram()
  const roundState = new Round(group, size.messages, histogram)
  const acks: number[] = []
  const before = {bus: await counter(worker, 'busMessages'), batches: await batches(worker), writes: await sumCounters(cluster.gateways, 'deliveries')}
  collectGarbage()
  const counts = await drive(fleet, roundState, size, options, `${label} ${fmtInt(group.members)} members, end to end`, async (k) => {
    const sender = k % Math.min(options.senders, group.members)
    const clientMsgId = `e2e-${group.members}-${k}`
    roundState.begin(k, clientMsgId, sender)
    try {
      await fleet.clients[sender]!.request('send', {conversation: group.conversation, clientMsgId, kind: 'text', body: bodyOf(k)})
      acks.push(performance.now() - roundState.sentAt[k]!)
    } catch (error) {
      roundState.problems.push(`send ${k} failed: ${error instanceof Error ? error.message : String(error)}`)
    }
  })
  const busMessages = (await counter(worker, 'busMessages')) - before.bus
  const workerBatches = (await batches(worker)) - before.batches
  const socketWrites = (await sumCounters(cluster.gateways, 'deliveries')) - before.writes
  if (socketWrites !== counts.deliveries) counts.problems.push(`gateways wrote ${fmtInt(socketWrites)} events, clients counted ${fmtInt(counts.deliveries)}`)
  const delivered = summarize([counts], histogram)
  return {
    ...delivered,
    leg: cluster.leg,
    members: group.members,
    gateways: cluster.gateways.length,
    busMessages,
    busMessagesPerGroupMessage: delivered.messages > 0 ? round(busMessages / delivered.messages, 2) : 0,
    workerBatches,
    busMessagesPerBatch: workerBatches > 0 ? round(busMessages / workerBatches, 2) : 0,
    socketWrites,
    ackP50Ms: round(median(acks), 2),
    setupMs: round(group.setupMs, 0),
  }
}

/**
 * The fanout transport alone, both ways, on the worker's bus and registry: the same route lookup and
 * the same message event, then either one bus message per recipient connection (baseline) or
 * planFanout + mergeNodeBatches, one per gateway (what the fanout publisher does). The gateways decode
 * and write to the same sockets either way. No worker and no database: only the transport differs.
 * The two sides alternate for `transportRounds` rounds, so drift hits both alike.
 */
async function transportRun(cluster: BenchCluster, fleet: Fleet, group: Group, size: GroupSize, options: GroupBenchOptions, label: string): Promise<TransportRun> {
  const {bus, registry} = cluster.adaptersOf(cluster.workers[0]!)
  const modes = ['per-recipient', 'per-gateway'] as const
  const sides = modes.map(() => ({histogram: newHistogram(), rounds: [] as RoundCounts[], busMessages: 0}))
  for (let r = 0; r < options.transportRounds; r++) {
    for (const [i, mode] of modes.entries()) {
      const side = sides[i]!
      const roundState = new Round(group, size.transportMessages, side.histogram)
      collectGarbage()
      const roundLabel = `${label} ${fmtInt(group.members)} members, ${mode} (${mode === 'per-recipient' ? 'baseline' : 'msgr'}) round ${r + 1}/${options.transportRounds}`
      side.rounds.push(
        await drive(fleet, roundState, {messages: size.transportMessages, maxMs: size.maxMs}, options, roundLabel, async (k) => {
          const sender = k % Math.min(options.senders, group.members)
          const clientMsgId = `${mode}-${group.members}-${r}-${k}`
          roundState.begin(k, clientMsgId, sender)
          const published = await inject(mode, bus, registry, group, fleet.pairs[sender]!, k, clientMsgId)
          side.busMessages += published
        }),
      )
    }
  }
  const [baseline, msgr] = sides.map((side): TransportSide => {
    const delivered = summarize(side.rounds, side.histogram)
    return {
      ...delivered,
      busMessages: side.busMessages,
      busMessagesPerGroupMessage: delivered.messages > 0 ? round(side.busMessages / delivered.messages, 2) : 0,
      busMessagesPerSecond: delivered.elapsedMs > 0 ? round((side.busMessages * 1000) / delivered.elapsedMs, 1) : 0,
    }
  }) as [TransportSide, TransportSide]
  return {leg: cluster.leg, members: group.members, baseline, msgr, ratio: round(msgr.deliveriesPerSecond / baseline.deliveriesPerSecond, 3)}
}

/** Publishes one group message the given way; returns how many bus messages that took. */
async function inject(
  mode: 'per-recipient' | 'per-gateway',
  bus: Bus,
  registry: ConnectionRegistry,
  group: Group,
  sender: TokenPair,
  k: number,
  clientMsgId: string,
): Promise<number> {
  const event: MessageEvent = {
    ev: 'message',
    conversation: group.conversation,
    seq: 1_000_000 + k,
    messageId: newId(),
    sender: sender.userId,
    senderDevice: sender.deviceId,
    ts: new Date().toISOString(),
    kind: 'text',
    body: bodyOf(k),
    clientMsgId,
  }
  const routes = await registry.lookup(group.memberIds)
  let published = 0
  if (mode === 'per-gateway') {
    for (const [node, batch] of mergeNodeBatches([], planFanout([{recipients: group.memberIds, skipDevice: sender.deviceId, event}], routes))) {
      bus.publishNode(node, encodeJson(batch))
      published++
    }
    return published
  }
  for (const [node, list] of routes) {
    for (const route of list) {
      if (route.deviceId === sender.deviceId) continue
      const batch: NodeBatch = {t: 'batch', deliveries: [{users: [route.userId], event}]}
      bus.publishNode(node, encodeJson(batch))
      published++
    }
  }
  return published
}

// ---- tables ----

function toTables(result: GroupsResult): Table[] {
  const ms = (v: number) => v.toFixed(v < 10 ? 2 : 1)
  const e2e: Table = {
    title: `groups — group messages end to end: send → worker (store) → bus → ${result.setup.gateways} gateways → every member's socket`,
    columns: ['leg', 'members', 'sent', 'deliveries', 'deliveries/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'bus msgs/group msg', 'bus msgs/batch', 'verified'],
    rows: result.legs.flatMap((leg) =>
      leg.runs.map((r) => [
        leg.leg,
        fmtInt(r.members),
        `${fmtInt(r.messages)}${r.stoppedBy === 'time' ? '*' : ''}`,
        fmtInt(r.deliveries),
        fmtInt(r.deliveriesPerSecond),
        ms(r.latency.p50),
        ms(r.latency.p95),
        ms(r.latency.p99),
        ms(r.latency.max),
        r.busMessagesPerGroupMessage.toFixed(2),
        `${r.busMessagesPerBatch.toFixed(2)}${r.busMessagesPerBatch > r.gateways ? ` (> ${r.gateways}!)` : ''}`,
        r.verified ? 'yes' : 'NOT verified',
      ]),
    ),
    notes: [
      ...result.legs.map((l) => `${l.leg}: ${l.detail}; ${fmtInt(l.users)} users, logins ${(l.loginMs / 1000).toFixed(1)} s, sockets ${(l.connectMs / 1000).toFixed(1)} s.`),
      `Every user has one device and one socket, round-robin over the gateways; clients and servers share one process (and its CPU).`,
      `${result.setup.senders} members take turns sending; ${result.setup.inFlight} group messages in flight, the next one goes when every member has one (closed loop).`,
      'latency: each delivered message event, arrival − send start. deliveries/s: events received ÷ (first send → last arrival).',
      `With ${result.setup.inFlight} messages in flight, latency ≈ ${result.setup.inFlight} × members ÷ deliveries/s (Little's law): for large groups it is mostly`,
      'the wait behind the other messages in flight.',
      `bus msgs/group msg: the worker's msgr_bus_node_messages_total delta ÷ messages sent; below ${result.setup.gateways} when one worker batch carries`,
      `several of the pipelined messages. bus msgs/batch: the same delta ÷ batches committed; should be ${result.setup.gateways}, one per gateway (acks ride along).`,
      'verified: every member but the sender got each message once, nobody else got one, and the gateways wrote exactly as many',
      'events as the clients counted. * = time bound reached before the message count.',
      ...problemNotes(result.legs.flatMap((l) => l.runs.map((r) => ({what: `${l.leg}/${r.members}`, problems: r.problems})))),
    ],
  }
  const transport: Table = {
    title: 'groups — fanout transport: one bus message per recipient (baseline) vs one per gateway (msgr), same bus, gateways and sockets',
    columns: ['leg', 'members', 'baseline bus msgs/s', 'baseline deliveries/s', 'baseline p99 ms', 'msgr bus msgs/s', 'msgr deliveries/s', 'msgr p99 ms', 'ratio', 'verified'],
    rows: result.legs.flatMap((leg) =>
      leg.transport.map((t) => [
        leg.leg,
        fmtInt(t.members),
        fmtInt(t.baseline.busMessagesPerSecond),
        fmtInt(t.baseline.deliveriesPerSecond),
        ms(t.baseline.latency.p99),
        fmtInt(t.msgr.busMessagesPerSecond),
        fmtInt(t.msgr.deliveriesPerSecond),
        ms(t.msgr.latency.p99),
        fmtRatio(t.ratio),
        t.baseline.verified && t.msgr.verified ? 'yes' : 'NOT verified',
      ]),
    ),
    notes: [
      'Both sides: registry lookup of all members, the same message event, published on the worker\'s bus, decoded by the gateways and written',
      `to the members' sockets, in the same closed loop as above. No worker, no database: only the bus fanout differs. ${result.setup.transportRounds}`,
      `alternating rounds per side of ${result.setup.sizes.map((z) => `${fmtInt(z.transportMessages)} (${fmtInt(z.members)})`).join(', ')} group messages; figures over all rounds of a side.`,
      'ratio = msgr deliveries/s ÷ baseline deliveries/s (higher is better).',
      ...problemNotes(
        result.legs.flatMap((l) =>
          l.transport.flatMap((t) => [
            {what: `${l.leg}/${t.members} baseline`, problems: t.baseline.problems},
            {what: `${l.leg}/${t.members} msgr`, problems: t.msgr.problems},
          ]),
        ),
      ),
    ],
  }
  return [e2e, transport]
}

function problemNotes(entries: Array<{what: string; problems: string[]}>): string[] {
  return entries.filter((e) => e.problems.length > 0).map((e) => `!! ${e.what}: ${e.problems.slice(0, 3).join('; ')}`)
}

// ---- helpers ----

const BODY = 'hey, are we still on for lunch tomorrow?'

/** Bodies differ per message, so no send looks like the same content spammed to many conversations. */
function bodyOf(k: number): string {
  return `${BODY} #${k}`
}

async function counter(node: RunningNode, name: 'busMessages' | 'deliveries'): Promise<number> {
  const metric = await node.metrics[name].get()
  return metric.values.reduce((sum, v) => sum + v.value, 0)
}

async function sumCounters(nodes: readonly RunningNode[], name: 'busMessages' | 'deliveries'): Promise<number> {
  let sum = 0
  for (const node of nodes) sum += await counter(node, name)
  return sum
}

/** Batches the worker has committed so far (count of msgr_worker_batch_size observations). */
async function batches(node: RunningNode): Promise<number> {
  const metric = await node.metrics.batchSize.get()
  return metric.values.filter((v) => v.metricName?.endsWith('_count')).reduce((sum, v) => sum + v.value, 0)
}

/** Runs `task(0..count-1)` with at most `concurrency` at once. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < count) await task(next++)
  }
  await Promise.all(Array.from({length: Math.min(concurrency, count)}, lane))
}

/** A progress line about once a second while something runs; returns the stop function. */
function ticker(line: () => string): () => void {
  const timer = setInterval(() => progress(line()), 1000)
  return () => clearInterval(timer)
}
