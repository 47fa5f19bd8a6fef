import * as hdr from 'hdr-histogram-js'
import {io, type Socket} from 'socket.io-client'
import WebSocket from 'ws'

import {MsgrClient} from '../src/client/client.js'
import type {CodecName} from '../src/protocol/codec-wire.js'
import {mulberry32} from './random.js'

// One client process of the delivery benchmark (forked by bench/delivery.ts, talks to it over IPC). It
// holds its share of the sockets, sends at the rate it is told (open loop), and times every delivery
// from the timestamp in the body: sender and receivers of a conversation are always in the same
// process, so one clock serves both. Clients run apart from the server, so their memory and CPU are
// not the server's.

export type TargetKind = 'ws' | 'socketio' | 'msgr'

export interface ClientUser {
  idx: number
  token?: string
  userId?: string
}

export interface ClientConversation {
  /** Room name (ws, socketio); msgr fills in the conversation id when it creates it. */
  key: string
  /** Indexes into this process's `users`. */
  members: number[]
}

export type ToClient =
  | {t: 'init'; kind: TargetKind; url: string; codec: CodecName; users: ClientUser[]; conversations: ClientConversation[]; seed: number}
  | {t: 'connect'; count: number}
  | {t: 'prepare'}
  | {t: 'run'; step: number; messagesPerSecond: number; durationMs: number; drainMs: number; quiesceMs: number}
  | {t: 'close'}

export interface StepReport {
  step: number
  sent: number
  expected: number
  delivered: number
  /** First send → last arrival (or end of the wait), on this process's clock. */
  elapsedMs: number
  /** Deliveries of this step's messages that arrived after the wait ended are not counted. */
  sendErrors: number
  /** Bytes of frames received during the step (deliveries and, for msgr, send replies). */
  bytes: number
  frames: number
  histogram: string
}

export type FromClient =
  | {t: 'connected'; open: number}
  | {t: 'prepared'}
  | {t: 'step'; report: StepReport}
  | {t: 'error'; message: string}

interface Conn {
  send(conversation: ClientConversation, body: string): void
  close(): Promise<void>
}

const CONNECT_CONCURRENCY = 50

let kind: TargetKind
let url: string
let codec: CodecName
let users: ClientUser[] = []
let conversations: ClientConversation[] = []
let random: () => number = Math.random
const conns: Conn[] = []
const msgrClients: MsgrClient[] = []
/** Rooms (ws, socketio) each user is in. */
const roomsOf = new Map<number, string[]>()

// The step in progress.
let step = -1
let histogram = hdr.build({lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3})
let delivered = 0
let bytes = 0
let frames = 0
let lastArrival = 0
let sendErrors = 0

function onBody(body: unknown): void {
  if (typeof body !== 'string') return
  const bar = body.indexOf('|')
  if (bar < 0 || Number(body.slice(0, bar)) !== step) return
  const now = performance.now()
  histogram.recordValue(Math.max(1, Math.round((now - Number(body.slice(bar + 1))) * 1000)))
  delivered++
  lastArrival = now
}

function onFrame(size: number): void {
  bytes += size
  frames++
}

async function connectOne(i: number): Promise<Conn> {
  const user = users[i]!
  if (kind === 'ws') {
    const ws = new WebSocket(`${url}/?r=${(roomsOf.get(i) ?? []).join(',')}`, {perMessageDeflate: false})
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    ws.on('message', (data: Buffer) => {
      onFrame(data.byteLength)
      try {
        onBody((JSON.parse(data.toString('utf8')) as {b?: unknown}).b)
      } catch {
        // not a benchmark frame
      }
    })
    return {
      send: (conversation, body) => ws.send(JSON.stringify({r: conversation.key, b: body})),
      close: () => closeWs(ws),
    }
  }
  if (kind === 'socketio') {
    const socket: Socket = io(url, {transports: ['websocket'], query: {r: (roomsOf.get(i) ?? []).join(',')}, reconnection: false, forceNew: true})
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve())
      socket.once('connect_error', reject)
    })
    socket.on('m', (message: {b?: unknown}) => {
      frames++
      onBody(message?.b)
    })
    return {
      send: (conversation, body) => void socket.emit('m', {r: conversation.key, b: body}),
      close: async () => void socket.disconnect(),
    }
  }
  const client = await MsgrClient.connect(url, user.token!, {codec, requestTimeoutMs: 60_000})
  await client.waitForEvent((e) => e.ev === 'hello', 60_000)
  client.events.length = 0
  client.ws.on('message', (data: Buffer) => onFrame(data.byteLength))
  client.on('event', (event) => {
    client.events.length = 0 // the client keeps every event; the benchmark needs none afterwards
    if (event.ev === 'message') onBody(event.body)
  })
  msgrClients[i] = client
  let n = 0
  return {
    send: (conversation, body) =>
      void client.request('send', {conversation: conversation.key, clientMsgId: `b${step}-${n++}`, kind: 'text', body}).catch(() => sendErrors++),
    close: () => client.close(),
  }
}

async function connect(count: number): Promise<void> {
  const from = conns.length
  const to = Math.min(users.length, from + count)
  let next = from
  const lane = async () => {
    while (next < to) {
      const i = next++
      conns[i] = await connectOne(i)
    }
  }
  await Promise.all(Array.from({length: Math.min(CONNECT_CONCURRENCY, to - from)}, lane))
}

/** msgr: the first member of each conversation opens it (conv.direct for pairs, group.create otherwise). */
async function prepare(): Promise<void> {
  if (kind !== 'msgr') return
  let next = 0
  const lane = async () => {
    while (next < conversations.length) {
      const conversation = conversations[next++]!
      const [owner, ...others] = conversation.members
      const client = msgrClients[owner!]!
      const ids = others.map((m) => users[m]!.userId!)
      const created =
        ids.length === 1
          ? await client.request('conv.direct', {with: ids[0]})
          : await client.request('group.create', {name: `bench ${conversation.key}`, members: ids})
      conversation.key = created.conversation
    }
  }
  await Promise.all(Array.from({length: Math.min(20, conversations.length)}, lane))
}

async function run(stepNo: number, messagesPerSecond: number, durationMs: number, drainMs: number, quiesceMs: number): Promise<StepReport> {
  step = stepNo
  histogram.reset()
  delivered = 0
  bytes = 0
  frames = 0
  sendErrors = 0
  let sent = 0
  let expected = 0
  const total = Math.max(1, Math.round((messagesPerSecond * durationMs) / 1000))
  const started = performance.now()
  lastArrival = started
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * messagesPerSecond) / 1000) + 1)
      while (sent < due) {
        const conversation = conversations[Math.floor(random() * conversations.length)]!
        const sender = conversation.members[Math.floor(random() * conversation.members.length)]!
        conns[sender]!.send(conversation, `${stepNo}|${performance.now()}`)
        expected += conversation.members.length - 1
        sent++
      }
      if (sent >= total) resolve()
      else setTimeout(tick, 2)
    }
    tick()
  })
  const deadline = performance.now() + drainMs
  while (delivered < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  const report: StepReport = {
    step: stepNo,
    sent,
    expected,
    delivered,
    elapsedMs: (delivered < expected ? performance.now() : lastArrival) - started,
    sendErrors,
    bytes,
    frames,
    histogram: hdr.encodeIntoCompressedBase64(histogram),
  }
  // Quiesce before the next step: an overloaded server still works off this step's backlog, which
  // would otherwise be charged to the next step's latency.
  const quiet = performance.now() + quiesceMs
  while (delivered < expected && performance.now() < quiet) await new Promise((r) => setTimeout(r, 10))
  step = -1
  return report
}

function closeWs(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve()
  return new Promise((resolve) => {
    ws.once('close', () => resolve())
    ws.close()
  })
}

function reply(message: FromClient): void {
  process.send?.(message)
}

process.on('message', (message: ToClient) => {
  const handle = async (): Promise<FromClient | undefined> => {
    switch (message.t) {
      case 'init':
        ;({kind, url, codec, users, conversations} = message)
        random = mulberry32(message.seed)
        conversations.forEach((c) => {
          for (const m of c.members) roomsOf.set(m, [...(roomsOf.get(m) ?? []), c.key])
        })
        return undefined
      case 'connect':
        await connect(message.count)
        return {t: 'connected', open: conns.length}
      case 'prepare':
        await prepare()
        return {t: 'prepared'}
      case 'run':
        return {t: 'step', report: await run(message.step, message.messagesPerSecond, message.durationMs, message.drainMs, message.quiesceMs)}
      case 'close':
        await Promise.all(conns.map((c) => c.close().catch(() => {})))
        process.exit(0)
    }
  }
  handle().then(
    (answer) => answer && reply(answer),
    (error: unknown) => reply({t: 'error', message: error instanceof Error ? error.message : String(error)}),
  )
})
