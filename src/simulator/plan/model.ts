import type {Calibration} from './calibration.js'
import {simulateDay, type VirtualDay} from './diurnal.js'
import {type PlanInputs, SEED_ESTIMATES} from './inputs.js'
import {bytes, count, gbps, ratio} from './units.js'

// The capacity model: the seed's traffic figures, turned into servers, memory, bandwidth, storage, DB
// writes and NATS throughput with per-unit costs measured on real runs (calibration). No I/O: inputs in,
// plan out, so every number can be checked by hand (test/unit/simulator/plan.test.ts does).

export const SECONDS_PER_DAY = 86_400
export const DAYS_PER_YEAR = 365
/** A ping and its pong on an idle connection (protocol v1 JSON + WebSocket headers). */
export const HEARTBEAT_BYTES = 64

export type GatewayLimit = 'memory' | 'cpu' | 'network' | 'files'

export interface CapacityPlan {
  inputs: PlanInputs
  calibration: Calibration
  traffic: {
    dailyActiveUsers: number
    averageMessagesPerSecond: number
    peakMessagesPerSecond: number
    groupMessagesPerDay: number
    /** The seed's "fanout operations": group messages × recipients (user level, daily average). */
    groupFanoutPerDay: number
    groupFanoutPerSecond: number
    /** Users a message goes to, 1:1 and groups mixed. */
    recipientsPerMessage: number
    devicesPerOnlineUser: number
    /** Live `message` events per message: online recipients' devices plus the sender's other devices. */
    liveDeliveriesPerMessage: number
    liveDeliveriesPerSecondPeak: number
    pushNotificationsPerSecondPeak: number
    connectsPerSecond: number
  }
  gateways: {
    count: number
    connectionsPerGateway: number
    limitedBy: GatewayLimit
    /** Connections one gateway could hold under each limit. */
    caps: Record<GatewayLimit, number>
    coresAtPeak: number
  }
  workers: {count: number; coresAtPeak: number}
  memory: {connectionStateBytes: number; gatewayFleetBytes: number}
  bandwidth: {deliveriesGbps: number; sendsGbps: number; heartbeatGbps: number; peakGbps: number; averageGbps: number; mediaAverageGbps: number}
  storage: {messagesPerYear: number; bytesPerYearOneCopy: number; bytesPerYear: number; retainedBytes: number; mediaBytesPerYear: number}
  database: {writesPerSecondPeak: number; primaries: number}
  nats: {ingestMessagesPerSecond: number; ingestBytesPerSecond: number; fanoutBytesPerSecond: number; bytesPerSecond: number}
  day: VirtualDay
  comparison: ComparisonRow[]
}

export interface ComparisonRow {
  figure: string
  seed: number
  model: number
  unit: 'count' | 'per-second' | 'bytes' | 'gbps'
  /** One line: why the two differ (or that they agree). */
  why: string
}

export function computePlan(inputs: PlanInputs, calibration: Calibration): CapacityPlan {
  const c = calibration.figures
  const server = inputs.server

  const averageMessagesPerSecond = inputs.messagesPerDay / SECONDS_PER_DAY
  const peakMessagesPerSecond = averageMessagesPerSecond * inputs.peakFactor
  const groupMessagesPerDay = inputs.messagesPerDay * inputs.groupShare
  const groupFanoutPerDay = groupMessagesPerDay * inputs.groupFanout
  const recipientsPerMessage = (1 - inputs.groupShare) * 1 + inputs.groupShare * inputs.groupFanout
  const devicesPerOnlineUser = inputs.connections / inputs.onlineUsers
  const online = 1 - inputs.offlineRecipientShare
  const liveDeliveriesPerMessage = recipientsPerMessage * online * devicesPerOnlineUser + Math.max(0, devicesPerOnlineUser - 1)
  const liveDeliveriesPerSecondPeak = peakMessagesPerSecond * liveDeliveriesPerMessage
  const connectsPerSecond = (inputs.connections * inputs.churnPerHour) / 3600

  // CPU at peak, split between gateways and workers by the measured share.
  const serverCores = (liveDeliveriesPerSecondPeak * c.cpuMsPerDelivery + connectsPerSecond * c.cpuMsPerConnect) / 1000
  const gatewayCores = serverCores * (1 - c.workerCpuShare)
  const workerCores = serverCores * c.workerCpuShare
  const usableCores = server.cores * server.cpuTarget

  // Gateway edge traffic at peak.
  const deliveriesBytes = liveDeliveriesPerSecondPeak * c.wireBytesPerDelivery
  const sendsBytes = peakMessagesPerSecond * c.wireBytesPerSend
  const heartbeatBytes = (inputs.connections / inputs.heartbeatSeconds) * HEARTBEAT_BYTES
  const toGbps = (bytesPerSecond: number) => (bytesPerSecond * 8) / 1e9
  const peakGbps = toGbps(deliveriesBytes + sendsBytes + heartbeatBytes)
  const averageGbps = toGbps((deliveriesBytes + sendsBytes) / inputs.peakFactor + heartbeatBytes)
  const mediaAverageGbps = toGbps(averageMessagesPerSecond * inputs.mediaShare * inputs.mediaBytes * (1 + recipientsPerMessage))

  const caps: Record<GatewayLimit, number> = {
    memory: Math.floor((server.memoryGiB * 2 ** 30 * server.memoryTarget) / c.bytesPerConnection),
    cpu: Math.floor(usableCores / (gatewayCores / inputs.connections)),
    network: Math.floor((server.nicGbps * server.cpuTarget) / (peakGbps / inputs.connections)),
    files: server.maxConnectionsPerProcess * server.cores,
  }
  const limitedBy = (Object.keys(caps) as GatewayLimit[]).reduce((a, b) => (caps[b] < caps[a] ? b : a))
  const connectionsPerGateway = caps[limitedBy]
  const gatewayCount = Math.ceil(inputs.connections / connectionsPerGateway)
  const workerCount = Math.max(1, Math.ceil(workerCores / usableCores))

  const messagesPerYear = inputs.messagesPerDay * DAYS_PER_YEAR
  const bytesPerYearOneCopy = messagesPerYear * c.storedBytesPerMessage
  const bytesPerYear = bytesPerYearOneCopy * inputs.replication
  const mediaBytesPerYear = messagesPerYear * inputs.mediaShare * inputs.mediaBytes

  const plan: Omit<CapacityPlan, 'comparison'> = {
    inputs,
    calibration,
    traffic: {
      dailyActiveUsers: inputs.mau * inputs.dauShare,
      averageMessagesPerSecond,
      peakMessagesPerSecond,
      groupMessagesPerDay,
      groupFanoutPerDay,
      groupFanoutPerSecond: groupFanoutPerDay / SECONDS_PER_DAY,
      recipientsPerMessage,
      devicesPerOnlineUser,
      liveDeliveriesPerMessage,
      liveDeliveriesPerSecondPeak,
      pushNotificationsPerSecondPeak: peakMessagesPerSecond * recipientsPerMessage * inputs.offlineRecipientShare,
      connectsPerSecond,
    },
    gateways: {count: gatewayCount, connectionsPerGateway, limitedBy, caps, coresAtPeak: gatewayCores},
    workers: {count: workerCount, coresAtPeak: workerCores},
    memory: {connectionStateBytes: inputs.connections * c.bytesPerConnection, gatewayFleetBytes: gatewayCount * server.memoryGiB * 2 ** 30},
    bandwidth: {deliveriesGbps: toGbps(deliveriesBytes), sendsGbps: toGbps(sendsBytes), heartbeatGbps: toGbps(heartbeatBytes), peakGbps, averageGbps, mediaAverageGbps},
    storage: {messagesPerYear, bytesPerYearOneCopy, bytesPerYear, retainedBytes: bytesPerYear * inputs.retentionYears, mediaBytesPerYear},
    database: {writesPerSecondPeak: peakMessagesPerSecond, primaries: Math.ceil(peakMessagesPerSecond / c.dbMessagesPerSecondPerPrimary)},
    nats: {
      ingestMessagesPerSecond: peakMessagesPerSecond,
      ingestBytesPerSecond: peakMessagesPerSecond * c.wireBytesPerSend,
      fanoutBytesPerSecond: liveDeliveriesPerSecondPeak * c.busBytesPerDelivery,
      bytesPerSecond: peakMessagesPerSecond * c.wireBytesPerSend + liveDeliveriesPerSecondPeak * c.busBytesPerDelivery,
    },
    day: simulateDay(inputs.regions),
  }
  return {...plan, comparison: compare(plan)}
}

/** The model next to the seed's own estimates, each with the reason they differ. */
function compare(plan: Omit<CapacityPlan, 'comparison'>): ComparisonRow[] {
  const {inputs, traffic: t, gateways: g, memory, bandwidth: bw, storage: s, calibration} = plan
  const c = calibration.figures
  const seed = SEED_ESTIMATES
  const seedTextBytesPerYear = s.messagesPerYear * inputs.messageBytes * inputs.replication
  const limitWhy: Record<GatewayLimit, string> = {
    memory: `memory-bound: ${bytes(c.bytesPerConnection)} per connection (measured, not 1 KB) fills ${inputs.server.memoryTarget * 100}% of ${inputs.server.memoryGiB} GiB at ${count(g.connectionsPerGateway)} connections`,
    cpu: `CPU-bound: ${count(t.liveDeliveriesPerSecondPeak)} deliveries/s at peak × ${Number(c.cpuMsPerDelivery.toPrecision(3))} ms allow ${count(g.connectionsPerGateway)} connections on ${inputs.server.cores} cores at ${inputs.server.cpuTarget * 100}%`,
    network: `network-bound: ${gbps(bw.peakGbps)} at peak allows ${count(g.connectionsPerGateway)} connections per ${inputs.server.nicGbps} Gbps NIC at ${inputs.server.cpuTarget * 100}%`,
    files: `file-limit-bound: ${count(inputs.server.maxConnectionsPerProcess)} open sockets per gateway process × ${inputs.server.cores} processes`,
  }
  return [
    {
      figure: 'messages/s, average',
      seed: seed.averageMessagesPerSecond,
      model: t.averageMessagesPerSecond,
      unit: 'per-second',
      why: `same arithmetic (${count(inputs.messagesPerDay)} ÷ 86,400 s); the seed rounds`,
    },
    {
      figure: 'messages/s, peak',
      seed: seed.peakMessagesPerSecond,
      model: t.peakMessagesPerSecond,
      unit: 'per-second',
      why: `same arithmetic (average × ${inputs.peakFactor}); the seed rounds up. A plain diurnal day peaks at only ${plan.day.peakFactor.toFixed(2)}× (UTC ${plan.day.peakUtcHour}:00), so ${inputs.peakFactor}× is event headroom`,
    },
    {
      figure: 'fanout/s',
      seed: seed.fanoutPerSecond,
      model: t.liveDeliveriesPerSecondPeak,
      unit: 'per-second',
      why: `the seed counts group recipients at the daily average (${count(t.groupFanoutPerSecond)}/s here too); at the ${inputs.peakFactor}× peak, with 1:1 messages, ${t.devicesPerOnlineUser.toFixed(2)} devices per user, the sender's other devices and ${inputs.offlineRecipientShare * 100}% of recipients offline, gateways push ${count(t.liveDeliveriesPerSecondPeak)} live events/s (plus ${count(t.pushNotificationsPerSecondPeak)} pushes/s)`,
    },
    {
      figure: 'gateways',
      seed: seed.gateways,
      model: g.count,
      unit: 'count',
      why: `${ratio(g.count, seed.gateways)} the seed: ${limitWhy[g.limitedBy]}; the seed assumes 100k per server`,
    },
    {
      figure: 'connections per gateway',
      seed: seed.connectionsPerGateway,
      model: g.connectionsPerGateway,
      unit: 'count',
      why: limitWhy[g.limitedBy],
    },
    {
      figure: 'connection state',
      seed: seed.connectionStateBytes,
      model: memory.connectionStateBytes,
      unit: 'bytes',
      why: `${ratio(memory.connectionStateBytes, seed.connectionStateBytes)}: the seed allows 1 KB per connection; a live WebSocket measured ${bytes(c.bytesPerConnection)} (socket buffers, ws and session objects, route entries)`,
    },
    {
      figure: 'bandwidth, peak',
      seed: seed.bandwidthGbps,
      model: bw.peakGbps,
      unit: 'gbps',
      why: `message events of ${Math.round(c.wireBytesPerDelivery)} B (not ${inputs.messageBytes} B: ids, seq, timestamps, framing) × ${count(t.liveDeliveriesPerSecondPeak)}/s; media is extra, ${gbps(bw.mediaAverageGbps)} average via the object store/CDN`,
    },
    {
      figure: 'storage per year',
      seed: seed.storageBytesPerYear,
      model: s.bytesPerYear,
      unit: 'bytes',
      why: `the seed's 10 PB ≈ ${count(s.messagesPerYear)} msgs × ${inputs.messageBytes} B × ${inputs.replication} copies = ${bytes(seedTextBytesPerYear)}; a stored row with ids and indexes is ${Math.round(c.storedBytesPerMessage)} B; media adds ${bytes(s.mediaBytesPerYear)}/year in the object store`,
    },
  ]
}
