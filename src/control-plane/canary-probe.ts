import {performance} from 'node:perf_hooks'

import {MsgrClient, RequestError} from '../client/client.js'
import type {ServerEvent} from '../protocol/frames.js'
import type {CanaryOutcome, CanaryStage} from './canary-status.js'
import {hasRole} from './cluster-status.js'
import {chooseGateway} from './gateway-routing.js'
import type {NodeRecord} from './node-registry.js'

// One canary probe through the real protocol: two devices of the canary user connect over WebSockets, the
// first sends a text to the user's own direct conversation, the second must receive it.

export interface CanaryDevice {
  userId: string
  deviceId: string
  accessToken: string
}

export interface ProbeOptions {
  nodes: readonly NodeRecord[]
  /** Two devices of the same user: the sender and the receiver. */
  devices: readonly [CanaryDevice, CanaryDevice]
  /** Whole probe, connect to delivery. */
  timeoutMs: number
  /** The receiver goes to the active gateways in turn, one per round; the sender where routing puts the user. */
  round: number
  clientMsgId: string
  /** ISO start time recorded in the outcome. */
  at: string
  signal?: AbortSignal
}

export async function runProbe(options: ProbeOptions): Promise<CanaryOutcome> {
  const {devices, clientMsgId, at} = options
  const [a, b] = devices
  const deadline = performance.now() + options.timeoutMs
  const left = () => Math.max(1, deadline - performance.now())
  const clients = new Set<MsgrClient>()
  let finished = false
  let stage: CanaryStage = 'gateway'
  const outcome: Partial<CanaryOutcome> = {}

  const bounded = <T>(promise: Promise<T>, what: string) => within(promise, left(), `${what}: no answer within ${options.timeoutMs} ms`, options.signal)
  // A gateway serving TLS itself is probed over wss:// (its certificate must be trusted by this process, e.g. NODE_EXTRA_CA_CERTS).
  const connect = async (address: string, tls: boolean, device: CanaryDevice) => {
    const client = await MsgrClient.connect(`${tls ? 'https' : 'http'}://${address}`, device.accessToken, {requestTimeoutMs: options.timeoutMs})
    if (finished) {
      void closeQuickly(client)
      throw new Error('probe already over')
    }
    clients.add(client)
    await client.waitForEvent((e) => e.ev === 'hello', left())
    return client
  }

  try {
    const sender = chooseGateway(options.nodes, a.userId)
    const gateways = options.nodes.filter((n) => n.alive && n.state === 'active' && n.address && hasRole(n, 'gateway')).sort((x, y) => x.id.localeCompare(y.id))
    if (!sender || gateways.length === 0) throw new Error('no active gateway to connect to')
    const receiver = gateways[options.round % gateways.length]!
    outcome.sender = sender.node
    outcome.receiver = receiver.id

    stage = 'connect'
    const [from, to] = await bounded(Promise.all([connect(sender.address, sender.tls, a), connect(receiver.address!, receiver.stats.tls === true, b)]), 'connect')

    stage = 'send'
    const {conversation} = await bounded(from.request('conv.direct', {with: a.userId}), 'conv.direct')
    const delivered = arrival(to, (e) => e.ev === 'message' && e.conversation === conversation && e.clientMsgId === clientMsgId)
    const sentAt = performance.now()
    await bounded(from.request('send', {conversation, clientMsgId, kind: 'text', body: `canary ${at}`}), 'send')
    outcome.ackMs = round(performance.now() - sentAt)

    stage = 'deliver'
    outcome.deliveryMs = round((await bounded(delivered, 'delivery')) - sentAt)
    return {ok: true, at, ...outcome}
  } catch (error) {
    return {ok: false, at, ...outcome, stage, error: describe(error)}
  } finally {
    finished = true
    await Promise.all([...clients].map(closeQuickly))
  }
}

/** performance.now() when the first matching event arrives at `client`. */
function arrival(client: MsgrClient, match: (event: ServerEvent) => boolean): Promise<number> {
  return new Promise((resolve) => {
    const listener = (event: ServerEvent) => {
      if (!match(event)) return
      client.off('event', listener)
      resolve(performance.now())
    }
    client.on('event', listener)
  })
}

function within<T>(promise: Promise<T>, ms: number, message: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms)
    const onAbort = () => reject(new Error('canary stopped'))
    signal?.addEventListener('abort', onAbort, {once: true})
    if (signal?.aborted) onAbort()
    promise.then(resolve, reject).finally(() => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    })
  })
}

// A hung gateway must not hold the canary for ws's 30 s closing handshake.
async function closeQuickly(client: MsgrClient): Promise<void> {
  const timer = setTimeout(() => client.ws.terminate(), 500)
  await client.close().catch(() => {})
  clearTimeout(timer)
}

function describe(error: unknown): string {
  if (error instanceof RequestError) return `${error.code}: ${error.error.message}`
  return error instanceof Error ? error.message : String(error)
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10
}
