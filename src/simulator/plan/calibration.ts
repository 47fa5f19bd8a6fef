import {z} from 'zod'

import type {SliceResult} from '../types.js'

// What one connection, one delivery and one message cost, as measured. The built-in defaults come from
// runs on the development machine (2 cores, Node 22, Postgres 15, NATS 2.9); `--calibrate report.json`
// replaces them with the figures of a measured `msgr sim run` (or of `npm run sim:100k`).

export const calibrationSchema = z.object({
  /** Gateway resident memory per open WebSocket connection (process RSS growth ÷ connections). */
  bytesPerConnection: z.number().positive(),
  /** Server CPU (every role) per live message delivery, ms: the send's share included. */
  cpuMsPerDelivery: z.number().positive(),
  /** Share of that CPU spent in workers (sequencing, batching, fanout planning); the rest in gateways. */
  workerCpuShare: z.number().min(0).max(1),
  /** Server CPU per (re)connect: token check, route registration, sync. */
  cpuMsPerConnect: z.number().min(0),
  /** Bytes on the wire per delivered `message` event (WebSocket frame, no TCP/IP headers). */
  wireBytesPerDelivery: z.number().positive(),
  /** Bytes on the wire per `send` and its ack. */
  wireBytesPerSend: z.number().positive(),
  /** Bytes on the NATS bus per delivery (node-mailbox messages, shared by recipients on one gateway). */
  busBytesPerDelivery: z.number().positive(),
  /** Postgres bytes per stored message, table and indexes, one copy. */
  storedBytesPerMessage: z.number().positive(),
  /** Messages per second one Postgres primary takes in worker batches. */
  dbMessagesPerSecondPerPrimary: z.number().positive(),
  /** Simulator agent memory per virtual client connection (to plan simulated runs). */
  agentBytesPerClient: z.number().positive(),
})

export type CalibrationFigures = z.output<typeof calibrationSchema>

export interface Calibration {
  figures: CalibrationFigures
  /** Where each figure comes from. */
  sources: Record<keyof CalibrationFigures, string>
}

const DEV_BOX = 'dev box, 2 cores'
/** Smallest samples a report's figures are taken from. */
const MIN_CONNECTIONS = 1000
const MIN_DELIVERIES = 10_000

/** Measured on the development machine; each source says by what. */
export const DEFAULT_CALIBRATION: Calibration = {
  figures: {
    bytesPerConnection: 10_000,
    cpuMsPerDelivery: 0.11,
    workerCpuShare: 0.3,
    cpuMsPerConnect: 7.4,
    wireBytesPerDelivery: 460,
    wireBytesPerSend: 420,
    busBytesPerDelivery: 220,
    storedBytesPerMessage: 750,
    dbMessagesPerSecondPerPrimary: 21_070,
    agentBytesPerClient: 29_400,
  },
  sources: {
    bytesPerConnection: `${DEV_BOX}: npm run sim:100k at 24,000 clients on 2 gateways, gateway RSS growth ÷ open connections (10,003 B; 20 KB at only 1,500 per gateway)`,
    cpuMsPerDelivery: `${DEV_BOX}: bench groups (embedded leg), 8,759 deliveries/s to groups of 10 in one process (≤ 1 core): an upper bound`,
    workerCpuShare: `estimate for a message-heavy load: the dev-box runs were connect-dominated (the worker took 4% of server CPU in npm run sim:100k)`,
    cpuMsPerConnect: `${DEV_BOX}: npm run sim:100k at 24,000 clients, server CPU of the ramp-up ÷ connects (token check, route, conversation set-up and sync included)`,
    wireBytesPerDelivery: `protocol v1: a message event with the seed's 100-byte text (4 UUIDs, seq, ts, clientMsgId) = 456 B JSON + 4 B WebSocket header`,
    wireBytesPerSend: `protocol v1: the send frame (286 B with the 100-byte text) + its ack (134 B)`,
    busBytesPerDelivery: `${DEV_BOX}: bench fanout, 10 recipients on 4 gateways = 2,206 bus bytes`,
    storedBytesPerMessage: `${DEV_BOX}: Postgres 15 messages partitions after npm run sim:100k (3,347 rows): heap 443 B/row + indexes (pkey, client id, tsvector) ≈ 310 B/row`,
    dbMessagesPerSecondPerPrimary: `${DEV_BOX}: bench store, worker batch of 1000 = 21,070 msgs/s`,
    agentBytesPerClient: `${DEV_BOX}: npm run sim:100k at 24,000 clients, agent RSS ÷ clients (process base included)`,
  },
}

/**
 * Reads a measured run: a `msgr sim run --json` report (a SliceResult, or an object holding one under
 * `result`/`merged`), optionally with a `calibration` object of explicit figures (npm run sim:100k writes
 * one). Figures the file does not give keep their defaults; the sources say which.
 */
export function calibrationFromReport(json: unknown, file: string, base: Calibration = DEFAULT_CALIBRATION): Calibration {
  if (!json || typeof json !== 'object') throw new Error(`${file}: not a JSON object; pass the report.json of \`msgr sim run --json\``)
  const figures: CalibrationFigures = {...base.figures}
  const sources = {...base.sources}
  const set = (key: keyof CalibrationFigures, value: number | undefined, how: string) => {
    if (value === undefined || !Number.isFinite(value) || value <= 0) return
    figures[key] = value
    sources[key] = `${file}: ${how}`
  }
  const result = findResult(json as Record<string, unknown>)
  if (result) {
    const server = result.resources?.server
    const client = result.resources?.client
    const c = result.counters
    // Small runs say more about process start-up than about a connection or a delivery: use a figure only
    // when its sample is large enough.
    const connections = client?.connectionsPeak ?? 0
    const deliveries = c?.deliveredEvents ?? 0
    if (connections >= MIN_CONNECTIONS) {
      set('bytesPerConnection', server?.rssBytesPerConnection, 'server RSS per connection')
      set('agentBytesPerClient', client!.rssBytesPeak / connections, 'simulator RSS ÷ peak connections')
    }
    if (deliveries >= MIN_DELIVERIES && server?.cpuSeconds !== undefined) set('cpuMsPerDelivery', (server.cpuSeconds * 1000) / deliveries, 'server CPU ÷ delivered events')
    // Byte counters include hellos, syncs, typing and receipts (and media uploads): only a run where message
    // traffic dominates the set-up (10+ deliveries per connect) says something about bytes per message.
    if (deliveries >= MIN_DELIVERIES && deliveries >= 10 * Math.max(1, c.connects)) {
      set('wireBytesPerDelivery', c.bytesReceived / deliveries, 'bytes received ÷ delivered events (every event counted: an upper bound)')
      if (c.sent > 0 && !c.mediaUploads) set('wireBytesPerSend', c.bytesSent / c.sent, 'bytes sent ÷ sends (typing and receipts counted: an upper bound)')
    }
  }
  const explicit = (json as {calibration?: unknown}).calibration
  if (explicit !== undefined) {
    const parsed = calibrationSchema.partial().safeParse(explicit)
    if (!parsed.success) {
      throw new Error(`${file}: calibration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
    }
    for (const [key, value] of Object.entries(parsed.data) as Array<[keyof CalibrationFigures, number]>) set(key, value, `calibration.${key}`)
  }
  if (!result && explicit === undefined) {
    throw new Error(`${file}: neither a simulator result (resources, counters) nor a "calibration" object; pass the report.json of \`msgr sim run --json\``)
  }
  return {figures, sources}
}

function findResult(json: Record<string, unknown>): SliceResult | undefined {
  for (const candidate of [json, json.result, json.merged, json.report]) {
    if (candidate && typeof candidate === 'object' && 'counters' in candidate && 'resources' in candidate) return candidate as SliceResult
  }
  return undefined
}
