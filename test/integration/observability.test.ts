import {randomUUID} from 'node:crypto'
import {Writable} from 'node:stream'

import {pino} from 'pino'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loginWithDevOtp, MsgrClient} from '../../src/client/client.js'
import {encodeJson} from '../../src/core/envelope.js'
import {partitionOf} from '../../src/core/ids.js'
import {migrate} from '../../src/core/store/migrate.js'
import {type Adapters, createAdapters} from '../../src/server/adapters.js'
import {parseNodeConfig} from '../../src/server/config.js'
import {type RunningNode, startNode} from '../../src/server/node.js'
import {waitFor} from '../helpers/cluster.js'
import {isMessage} from '../helpers/protocol.js'
import {testNamespace} from '../helpers/services.js'

// Observability of one `serve all`-shaped node (embedded adapters) whose logs go to a stream the test
// reads: after real traffic /metrics has every series operators alert on, and they moved; every HTTP
// request and WebSocket request frame is logged with a request id; no message body ever reaches a log.

describe('metrics and logs of a node', () => {
  const lines: string[] = []
  let adapters: Adapters
  let node: RunningNode

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean))
        done()
      },
    })
    const logger = pino({level: 'trace'}, sink)
    const config = parseNodeConfig({
      nodeId: 'obs0',
      roles: ['gateway', 'worker', 'control-plane'],
      host: '127.0.0.1',
      port: 0,
      dev: true,
      namespace: testNamespace(),
      partitions: 4,
      jwtSecret: 'observability-secret-observability-secret',
      sms: {sink: 'dev'},
      ackWaitMs: 2000,
      rateLimits: {enabled: false},
      canary: {intervalMs: 0},
    })
    adapters = await createAdapters({allowEmbedded: true, namespace: config.namespace, ackWaitMs: 2000, routeTtlMs: 30_000, nodeId: config.nodeId, logger})
    await migrate(adapters.sql)
    node = await startNode(config, {adapters, logger})
    await waitFor(() => (node.worker?.ownedPartitions().length ?? 0) === 4, 15_000)
  })
  afterAll(async () => {
    await node?.stop()
    await adapters?.close()
  })

  it('exposes connections, sends, deliveries, latency histograms, bus/DB errors and partitions, and they move', async () => {
    const before = parse(await scrape(node.url))
    const a = await loginWithDevOtp(node.url, '+15550100001', {name: 'a', platform: 'test'})
    const b = await loginWithDevOtp(node.url, '+15550100002', {name: 'b', platform: 'test'})
    const ca = await MsgrClient.connect(node.url, a.accessToken)
    const cb = await MsgrClient.connect(node.url, b.accessToken)
    const {conversation} = await ca.request('conv.direct', {with: b.userId})
    for (let i = 0; i < 5; i++) await ca.request('send', {conversation, clientMsgId: `m${i}`, kind: 'text', body: `hello ${i}`})
    await ca.request('send', {conversation, clientMsgId: 'm0', kind: 'text', body: 'hello 0'}) // a retry: duplicate
    // (A duplicate is delivered again, harmlessly: the client dedups by seq.)
    await waitFor(() => new Set(cb.events.filter(isMessage(conversation)).map((e) => e.seq)).size === 5)
    // A body the database refuses, straight onto the stream: the worker's failed batch is a DB error.
    await adapters.bus.publishIngest(partitionOf(conversation, 4), encodeJson({v: 1, conv: conversation, sender: a.userId, senderDevice: a.deviceId, clientMsgId: 'poison', kind: 'text', body: 'nul \u0000', gw: 'nobody', at: Date.now()}))

    await waitFor(async () => value(parse(await scrape(node.url)), 'msgr_db_errors_total') > 0, 15_000, 100)
    const after = parse(await scrape(node.url))
    const moved = (name: string, by = 1) => expect(value(after, name) - value(before, name), name).toBeGreaterThanOrEqual(by)

    expect(value(after, 'msgr_ws_connections')).toBe(2)
    moved('msgr_ws_connects_total', 2)
    moved('msgr_sends_total{result="ok"}', 5)
    moved('msgr_sends_total{result="duplicate"}', 1)
    moved('msgr_ws_frames_total{op="send"}', 6)
    moved('msgr_deliveries_total', 5)
    moved('msgr_messages_stored_total', 5)
    moved('msgr_send_ack_seconds_count', 6)
    moved('msgr_send_ack_seconds_bucket{le="+Inf"}', 6)
    moved('msgr_delivery_seconds_count', 5)
    moved('msgr_worker_batch_seconds_count')
    moved('msgr_worker_batch_size_count')
    moved('msgr_db_errors_total')
    moved('msgr_http_requests_total{status="200"}', 2)
    moved('msgr_http_request_seconds_count', 2)
    expect(value(after, 'msgr_worker_partitions_owned')).toBe(4)
    // Declared even before anything failed, so dashboards and alerts can be written against them.
    for (const name of ['msgr_bus_errors_total', 'msgr_slow_consumer_closes_total', 'msgr_ws_auth_closes_total', 'msgr_rate_limited_total', 'msgr_worker_errors_total']) {
      expect(after.declared.has(name), name).toBe(true)
    }
    await ca.close()
    await cb.close()
    await waitFor(async () => value(parse(await scrape(node.url)), 'msgr_ws_connections') === 0)
  })

  it('logs every HTTP request and WebSocket request frame with a request id, and never a message body', async () => {
    const secret = `secret-body-${randomUUID()}`
    const res = await fetch(`${node.url}/healthz`, {headers: {'x-request-id': 'obs-req-1'}})
    expect(res.headers.get('x-request-id')).toBe('obs-req-1')
    const generated = (await fetch(`${node.url}/readyz`)).headers.get('x-request-id')
    expect(generated).toMatch(/^[0-9a-f-]{36}$/)

    const a = await loginWithDevOtp(node.url, '+15550100003', {name: 'a', platform: 'test'})
    const b = await loginWithDevOtp(node.url, '+15550100004', {name: 'b', platform: 'test'})
    const ca = await MsgrClient.connect(node.url, a.accessToken)
    const cb = await MsgrClient.connect(node.url, b.accessToken)
    const {conversation} = await ca.request('conv.direct', {with: b.userId})
    const sent = await ca.request('send', {conversation, clientMsgId: 'secret-1', kind: 'text', body: secret})
    await cb.waitForEvent(isMessage(conversation, sent.seq))
    await ca.request('send', {conversation, clientMsgId: 'secret-2', kind: 'note', body: {text: secret}})
    await ca.request('edit', {conversation, seq: sent.seq, body: `${secret} edited`})
    await ca.request('search', {query: 'secret'})
    await ca.request('sync', {conversation})
    await expect(ca.request('send', {conversation, clientMsgId: 'bad', kind: 'text', body: `${secret}\u0000`})).rejects.toMatchObject({error: {code: 'invalid_request'}})
    ca.ws.send(`{"id":"garbled","op":"send","body":"${secret}`) // not JSON: the frame is refused, and not logged
    await waitFor(() => ca.events.some((e) => e.ev === 'error'))
    await ca.close()
    await cb.close()
    await waitFor(() => lines.some((l) => l.includes('"reqId":"obs-req-1"')))

    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(records.find((r) => r.reqId === 'obs-req-1')).toMatchObject({msg: 'http request', method: 'GET', path: '/healthz', status: 200})
    expect(records.some((r) => r.reqId === generated)).toBe(true)
    const frames = records.filter((r) => r.msg === 'ws request')
    expect(frames.find((r) => r.op === 'send' && typeof r.conn === 'string' && typeof r.reqId === 'string' && r.user === a.userId)).toBeDefined()
    expect(frames.find((r) => typeof r.reqId === 'string' && r.code === 'invalid_request')).toBeDefined()
    expect(frames.find((r) => r.reqId === undefined && r.code === 'invalid_json')).toBeDefined()
    expect(frames.find((r) => r.op === 'edit' && r.code === undefined)).toBeDefined()
    // Query strings (access tokens, phone numbers) stay out of request logs.
    expect(records.filter((r) => r.msg === 'http request').every((r) => !String(r.path).includes('?'))).toBe(true)

    expect(lines.length).toBeGreaterThan(20)
    for (const line of lines) expect(line).not.toContain('secret-body-')
  })
})

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`)
  expect(res.status).toBe(200)
  return res.text()
}

interface Scraped {
  /** `name{labels}` (the node label dropped) and `name` alone, summed over its series. */
  samples: Map<string, number>
  declared: Set<string>
}

function parse(text: string): Scraped {
  const samples = new Map<string, number>()
  const declared = new Set<string>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+)/.exec(line)
    if (type) declared.add(type[1]!)
    const m = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/i.exec(line)
    if (!m) continue
    const labels = (m[2] ?? '').split(',').filter((l) => l && !l.startsWith('node='))
    const n = Number(m[3])
    const keys = [m[1]!, ...(labels.length ? [`${m[1]}{${labels.join(',')}}`] : [])]
    for (const key of keys) samples.set(key, (samples.get(key) ?? 0) + n)
  }
  return {samples, declared}
}

function value(s: Scraped, key: string): number {
  return s.samples.get(key) ?? 0
}
