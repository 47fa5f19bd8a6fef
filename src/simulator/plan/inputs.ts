import {z} from 'zod'

// The capacity model's inputs. Every default is the seed's own figure (seed-messenger-design.txt,
// "Traffic Estimation & Capacity Planning"), except the server shape, which the seed does not give.

const positive = z.number().positive()
const share = z.number().min(0).max(1)

export const regionSchema = z.object({
  name: z.string().min(1),
  /** Share of users (the shares are normalised). */
  share: z.number().min(0),
  /** Local time − UTC, hours. */
  utcOffsetHours: z.number().min(-12).max(14),
})

export const planInputsSchema = z.object({
  /** Monthly active users (seed: 1.3 billion). */
  mau: positive.default(1.3e9),
  /** Daily active share of MAU (seed: 900M DAU = 70%). */
  dauShare: share.default(0.7),
  /** Messages per day (seed: 100 billion). */
  messagesPerDay: positive.default(100e9),
  /** Peak ÷ average message rate (seed: 3× during major events). */
  peakFactor: z.number().min(1).default(3),
  /** WebSocket connections at peak (seed: 500 million, several devices per user). */
  connections: positive.default(500e6),
  /** Users online at peak (seed: 300 million); connections ÷ this = devices per online user. */
  onlineUsers: positive.default(300e6),
  /** Share of messages sent to groups (seed: 30%, i.e. 30 billion a day). */
  groupShare: share.default(0.3),
  /** Recipients per group message (seed: "average fanout: 8 recipients per group message"). */
  groupFanout: z.number().min(1).default(8),
  /** Share of recipients offline when a message arrives: they get a push instead (seed: 60%). */
  offlineRecipientShare: share.default(0.6),
  /** Text message size in bytes (seed: 100). */
  messageBytes: positive.default(100),
  /** Share of messages carrying media (seed: 30%) and its size (seed: 50 KB). */
  mediaShare: share.default(0.3),
  mediaBytes: positive.default(50 * 1024),
  /** Copies of each stored message (seed: "3x storage overhead" for backup and replication). */
  replication: z.number().min(1).default(3),
  /** Years messages are kept (storage total = per year × this; seed: 5-year archive). */
  retentionYears: positive.default(5),
  /** Connections that drop and reconnect per hour (seed: 10%). */
  churnPerHour: share.default(0.1),
  /** Heartbeat interval of an idle connection, seconds (msgr's default ping: 25 s). */
  heartbeatSeconds: positive.default(25),
  /**
   * The machine every server role runs on (not in the seed): cores, memory, NIC, utilisation targets. A
   * "gateway" below is one such server running one msgr gateway process per core (one event loop each).
   */
  server: z
    .object({
      cores: z.number().int().min(1).default(16),
      memoryGiB: positive.default(64),
      nicGbps: positive.default(25),
      /** Use at most this share of CPU and memory at peak (headroom for failover and GC). */
      cpuTarget: share.default(0.6),
      memoryTarget: share.default(0.7),
      /** Open sockets one gateway process may hold (its file limit); a server runs one gateway process per core. */
      maxConnectionsPerProcess: z.number().int().min(1).default(1_000_000),
    })
    .prefault({}),
  /** Where users live: the seed's regional split, peak 7–9 PM local time. */
  regions: z
    .array(regionSchema)
    .min(1)
    .default([
      {name: 'US/Canada', share: 0.25, utcOffsetHours: -6},
      {name: 'Europe', share: 0.25, utcOffsetHours: 1},
      {name: 'Asia', share: 0.35, utcOffsetHours: 7},
      {name: 'others', share: 0.15, utcOffsetHours: -3},
    ]),
})

export type PlanInputs = z.output<typeof planInputsSchema>
export type PlanInputsInput = z.input<typeof planInputsSchema>

/** The seed's own results, printed next to the model's. */
export const SEED_ESTIMATES = {
  averageMessagesPerSecond: 1.16e6,
  peakMessagesPerSecond: 3.5e6,
  gateways: 5000,
  connectionsPerGateway: 100_000,
  bytesPerConnection: 1000,
  connectionStateBytes: 500e9,
  fanoutPerSecond: 2.78e6,
  bandwidthGbps: 50,
  storageBytesPerYear: 10e15,
} as const

export function parsePlanInputs(input: unknown): PlanInputs {
  const parsed = planInputsSchema.safeParse(input ?? {})
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || 'inputs'}: ${i.message}`)
    throw new Error(`invalid capacity-plan inputs:\n${lines.join('\n')}`)
  }
  return parsed.data
}
