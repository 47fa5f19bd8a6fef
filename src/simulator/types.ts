import {z} from 'zod'

import {parseDuration} from '../cli/duration.js'

// The simulator's contract: the scenario (traffic model), one slice of a run, its result and its progress.
// Everything here is plain JSON so that slices can run in other processes (src/simulator/distributed).

/** Seconds, written either as a number of seconds or as a duration string ("90s", "2m", "500ms"). */
const seconds = z.union([z.number().min(0), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value
  try {
    return parseDuration(value) / 1000
  } catch (error) {
    ctx.addIssue({code: 'custom', message: (error as Error).message})
    return z.NEVER
  }
})

const share = z.number().min(0).max(1)

/**
 * The traffic model. Every default is the seed's traffic model (seed-messenger-design.txt, "Traffic
 * Estimation"): 70% of messages 1:1, groups of 8 on average with 5% of groups at 50+ members carrying
 * 20% of group messages, ~1.67 devices per online user (500M connections / 300M users), 10%/hour
 * connection churn, 100-byte text, 30% media of ~50 KB.
 */
export const scenarioSchema = z.strictObject({
  name: z.string().min(1).max(100).default('seed'),
  /** Users of the whole run (all slices together). A slice scales the message rate by its share of them. */
  users: z.number().int().min(2).max(10_000_000).default(100),
  devices: z
    .strictObject({
      /** weights[i] = how likely a user has i+1 devices (normalised). */
      weights: z.array(z.number().min(0)).min(1).max(10).default([0.5, 0.35, 0.15]),
    })
    .prefault({}),
  conversations: z
    .strictObject({
      /** Share of messages sent to 1:1 conversations; the rest go to groups. */
      directShare: share.default(0.7),
      /** 1:1 conversations per user, on average (each has two users). */
      contactsPerUser: z.number().min(0).default(4),
      /** Group memberships per user, on average; the number of groups follows from the mean size. */
      groupsPerUser: z.number().min(0).default(1.5),
      /** Mean group size, members including the owner. */
      groupSizeMean: z.number().min(3).default(8),
      /** Share of groups that are large (at least largeGroupMin members). */
      largeGroupShare: share.default(0.05),
      largeGroupMin: z.number().int().min(3).default(50),
      largeGroupMax: z.number().int().min(3).max(5000).default(80),
      /** Share of group messages that go to large groups. */
      largeGroupMessageShare: share.default(0.2),
    })
    .prefault({}),
  rate: z
    .strictObject({
      /** closed: a target rate, never more than maxInFlight unacknowledged sends; open: Poisson arrivals that do not wait. */
      arrival: z.enum(['closed', 'open']).default('closed'),
      /** Messages per second of the whole run in the steady phase. */
      messagesPerSecond: z.number().min(0).default(20),
      /** Closed loop only: sends waiting for their ack, per slice. */
      maxInFlight: z.number().int().min(1).default(500),
    })
    .prefault({}),
  phases: z
    .strictObject({
      /** Connections open and the rate climbs linearly over this time. */
      rampUp: seconds.default(10),
      steady: seconds.default(60),
      /** The rate falls linearly to zero. */
      rampDown: seconds.default(5),
      /** After the last send: the longest wait for outstanding deliveries before the final sync. */
      settle: seconds.default(20),
    })
    .prefault({}),
  churn: z
    .strictObject({
      /** Share of connections that drop and reconnect per hour (seed: 10%). */
      perHour: z.number().min(0).default(0.1),
      /** Simulated hours per real hour: 60 turns 10%/hour into 10% per minute. */
      timeCompression: z.number().min(1).default(60),
      /** How long a dropped device stays away before it reconnects and syncs. */
      offline: seconds.default(2),
    })
    .prefault({}),
  typing: z.strictObject({/** Share of messages preceded by typing true … false. */ share: share.default(0.3)}).prefault({}),
  receipts: z.strictObject({/** Share of received messages a device marks read (`receipt` op). */ readShare: share.default(0.5)}).prefault({}),
  media: z
    .strictObject({
      /** Share of messages that carry media (seed: 30%). */
      share: share.default(0.3),
      /** Bytes of one upload (seed: ~50 KB). */
      bytes: z.number().int().min(1).max(25 * 1024 * 1024).default(50 * 1024),
      /** Share of media messages that upload new bytes; the others reuse the sender's last upload. */
      freshShare: share.default(0.2),
    })
    .prefault({}),
  message: z.strictObject({/** Text body size in bytes (seed: 100). */ bytes: z.number().int().min(1).max(16_000).default(100)}).prefault({}),
  login: z.strictObject({/** Logins in flight at once (dev OTP path). */ concurrency: z.number().int().min(1).max(1000).default(16)}).prefault({}),
})

export type Scenario = z.output<typeof scenarioSchema>
export type ScenarioInput = z.input<typeof scenarioSchema>

/** One slice of a run: a range of users, all conversations among them, and their traffic. */
export interface SliceSpec {
  runId: string
  seed: number
  scenario: Scenario
  /** url: a gateway (via 'gateway') or a control plane that routes each user with GET /v1/connect. */
  target: {url: string; via: 'gateway' | 'control-plane'}
  /** Users [from, from + count) of the run; phone numbers derive from runId and the index. */
  users: {from: number; count: number}
  /** Source addresses for client sockets, used round-robin (more ephemeral ports per target). */
  localAddresses?: string[]
  /**
   * The local addresses are this slice's alone: each device binds a port of its own on its address. With
   * port 0 the kernel searches the address's ports in use for a free one, which costs more with every socket
   * (at 60,000 sockets it was half of an agent's CPU); a given port is a hash lookup.
   */
  localPorts?: boolean
  /** Issue tokens directly instead of the dev OTP endpoint (fast path for many users). */
  /** Issue tokens against the cluster's Postgres with its JWT secret; accessTtlSec: their lifetime (default the server default, 15 min). */
  auth?: {databaseUrl: string; jwtSecret: string; accessTtlSec?: number}
}

/** What must hold at every recipient device for every acknowledged message; counts, never lists. */
export interface AuditCounts {
  /** Acknowledged messages of this slice. */
  messages: number
  /** (message, recipient device) pairs that had to arrive. */
  expected: number
  /** Pairs that arrived live (a `message` event). */
  deliveredLive: number
  /** Pairs that arrived only through `sync` (after a disconnect, or a live miss). */
  recoveredBySync: number
  /** Pairs that never arrived, even after the final sync: loss. */
  missing: number
  /** Pairs at devices the final sync could not reach (no connection, inbox or sync failed): not checked, so the run cannot pass. */
  unverified?: number
  /** Acknowledged messages stored more than once (the same clientMsgId at two seqs): loss of idempotency. */
  duplicated: number
  /** Live events that came after a higher seq of the same conversation on the same connection. */
  outOfOrder: number
  /** Pairs a continuously connected device got only through sync: the server dropped a live delivery. */
  liveMisses: number
  /** The same seq delivered again to a device (allowed: at-least-once; removed by dedup). */
  redelivered: number
  /** Two different messages seen at one seq of a conversation. */
  seqConflicts: number
}

export interface SliceCounters {
  sent: number
  acked: number
  sendErrors: number
  /** Message events received (every copy). */
  deliveredEvents: number
  connects: number
  connectErrors: number
  disconnects: number
  /** Reconnects caused by churn or by the server (drain). */
  reconnects: number
  syncRequests: number
  typingSent: number
  typingReceived: number
  receiptsSent: number
  receiptsReceived: number
  mediaUploads: number
  mediaMessages: number
  groupsCreated: number
  directConversations: number
  rateLimited: number
  /** Arrivals not sent: the closed loop's in-flight cap was reached, or no member of the chosen conversation was connected. */
  skipped: number
  bytesSent: number
  bytesReceived: number
}

/** One second of the run (epoch second, so slices of one run line up when merged). */
export interface TimelineBucket {
  at: number
  sent: number
  acked: number
  delivered: number
  errors: number
  /** Open connections at the end of the second (a sum over slices). */
  connections: number
  /** Delivery latency of this second, encoded like SliceResult.histograms. */
  delivery?: string
}

export interface ResourceFigures {
  client: {
    /** Peak resident set size of each slice's process, summed over slices. */
    rssBytesPeak: number
    heapUsedBytesPeak: number
    cpuUserMs: number
    cpuSystemMs: number
    /** Peak devices connected at once. */
    connectionsPeak: number
  }
  /** Figures read from the target's /metrics before and after (one node), when it exposes them. */
  server?: {
    cpuSeconds?: number
    rssBytes?: number
    /** Server CPU ms per acknowledged message. */
    cpuMsPerMessage?: number
    /** Server resident bytes per open connection (rss / connections at the end of steady). */
    rssBytesPerConnection?: number
  }
}

/** The outcome of one slice (or of several, merged): plain JSON. */
export interface SliceResult {
  version: 1
  runId: string
  scenario: string
  /** How many slices were merged into this one. */
  slices: number
  users: number
  devices: number
  startedAt: string
  endedAt: string
  durationMs: number
  /** Steady-phase seconds (for throughput). */
  steadyMs: number
  /** Microseconds; hdr-histogram-js encodeIntoCompressedBase64. */
  histograms: {delivery: string; ack: string; connect: string}
  counters: SliceCounters
  errorsByCode: Record<string, number>
  audit: AuditCounts
  timeline: TimelineBucket[]
  resources: ResourceFigures
}

export type Phase = 'login' | 'ramp-up' | 'steady' | 'ramp-down' | 'settle' | 'final-sync' | 'done'

/** A live snapshot, about once a second. */
export interface Progress {
  runId: string
  phase: Phase
  elapsedMs: number
  users: number
  devices: number
  loggedIn: number
  connections: number
  sent: number
  acked: number
  deliveredEvents: number
  errors: number
  /** Acks per second over the last second. */
  ackRate: number
  /** Delivery latency of the last second, ms. */
  deliveryP50Ms?: number
  deliveryP99Ms?: number
  ackP99Ms?: number
  /** Deliveries still outstanding (acked, not yet at every recipient device). */
  pending: number
  /** Final sync: devices checked so far of those that were behind (the rest got everything live). */
  finalSync?: {done: number; total: number}
  /** Audit figures so far (missing is only known after the final sync). */
  audit: Pick<AuditCounts, 'outOfOrder' | 'duplicated' | 'seqConflicts' | 'redelivered'>
}

/** Loss that fails a run (non-zero exit). Unverified pairs fail it too, but are not loss (see passed()). */
export function lossOf(audit: AuditCounts): number {
  return audit.missing + audit.duplicated + audit.liveMisses + audit.seqConflicts
}

/** A run passes when nothing was lost and every expected delivery could be checked. */
export function passed(audit: AuditCounts): boolean {
  return lossOf(audit) === 0 && (audit.unverified ?? 0) === 0
}
