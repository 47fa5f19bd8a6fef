import {randomUUID} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket from 'ws'

import {mulberry32} from '../../src/core/random.js'
import type {MsgrClient} from '../../src/client/client.js'
import {ERRORS, isErrorCode} from '../../src/errors.js'
import {decodeRequest} from '../../src/protocol/codec.js'
import {LIMITS, OP_NAMES, requestSchemas} from '../../src/protocol/frames.js'
import {availableLegs, LEGS, sleep, startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'
import {isMessage, syncAll} from '../helpers/protocol.js'

// Hostile input through real sockets: a seeded generator makes >10,000 malformed frames (invalid UTF-8,
// binary frames, deep nesting, huge numbers, a wrong type for every field of every op, unknown ops,
// missing and duplicate ids, frames over maxFrameBytes and over hardMaxFrameBytes) and malformed HTTP
// bodies for the auth and media endpoints. Each frame's expected code comes from the pure decoder, so
// every reply is checked exactly; every HTTP answer is a 4xx with a catalogued code. Meanwhile a
// bystander conversation keeps flowing and must lose nothing; the gateway must stay healthy.

const SEED = 0x5eed_f022
/** Bad frames per connection: the gateway closes a client after 50 bad frames in 10 s (1008). */
const FRAMES_PER_CONNECTION = 50
const CONNECTIONS = 200
const POLICY_CLOSES = [1007, 1008, 1009]

interface Frame {
  data: string | Buffer
  binary: boolean
  /** The code the gateway must answer with. */
  code: string
}

const available = await availableLegs()

describe.each(LEGS)('fuzz: malformed frames and HTTP bodies on %s adapters', (leg) => {
  describe.runIf(available[leg])('', () => {
    let cluster: TestCluster
    let mediaDir: string | undefined
    const rand = mulberry32(SEED)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!

    beforeAll(async () => {
      mediaDir = await mkdtemp(join(tmpdir(), 'msgr-fuzz-'))
      cluster = await startCluster(leg, {gateways: 1, workers: 1, config: {media: {dir: mediaDir, maxBytes: 64 * 1024}}})
    })
    afterAll(async () => {
      await cluster?.stop()
      if (mediaDir) await rm(mediaDir, {recursive: true, force: true})
    })

    it('answers >10,000 hostile frames and bodies with coded errors or policy closes; a bystander loses nothing', async () => {
      const gateway = cluster.gateways[0]!
      const fuzzer = await cluster.login()
      const a = await cluster.connect(await cluster.login())
      const bPair = await cluster.login()
      const b = await cluster.connect(bPair)
      const {conversation} = await a.request('conv.direct', {with: bPair.userId})
      const bystander = keepTalking(a, conversation)

      let frames = 0
      const codes = new Map<string, number>()
      const count = (code: string) => codes.set(code, (codes.get(code) ?? 0) + 1)

      // 200 connections × 50 frames, four connections at a time.
      const batches = Array.from({length: CONNECTIONS}, () => Array.from({length: FRAMES_PER_CONNECTION}, () => hostileFrame()))
      for (let i = 0; i < batches.length; i += 4) {
        await Promise.all(
          batches.slice(i, i + 4).map(async (batch) => {
            const replies = await exchange(gateway.url, fuzzer.accessToken, batch)
            expect(replies.closeCode, 'no close below the abuse limit').toBeUndefined()
            expect(sorted(replies.codes)).toEqual(sorted(batch.map((f) => f.code)))
            frames += batch.length
            for (const code of replies.codes) count(code)
          }),
        )
      }

      // Past the abuse limit: the 51st bad frame is answered, then the socket is closed with 1008.
      for (let i = 0; i < 5; i++) {
        const batch = Array.from({length: FRAMES_PER_CONNECTION + 10}, () => hostileFrame())
        const replies = await exchange(gateway.url, fuzzer.accessToken, batch)
        expect(replies.closeCode).toBe(1008)
        expect(replies.codes.length).toBeGreaterThanOrEqual(FRAMES_PER_CONNECTION)
        for (const code of replies.codes) expect(isErrorCode(code)).toBe(true)
        frames += batch.length
      }

      // Over hardMaxFrameBytes: the socket is closed with 1009 (after the replies to what came before).
      for (let i = 0; i < 10; i++) {
        const ws = await open(gateway.url, fuzzer.accessToken)
        const closed = closeOf(ws)
        const before = [hostileFrame(), hostileFrame()]
        const replies = collect(ws)
        for (const f of before) ws.send(f.data, {binary: f.binary})
        await waitFor(() => replies.length === before.length, 10_000)
        ws.send(JSON.stringify({id: `huge${i}`, op: 'ping', pad: 'x'.repeat(LIMITS.hardMaxFrameBytes + 1 + Math.floor(rand() * 1000))}))
        expect(await closed).toBe(1009)
        frames += before.length + 1
      }

      const bodies = await fuzzHttp(gateway.url, fuzzer.accessToken, 1500)
      expect(frames + bodies).toBeGreaterThanOrEqual(10_000)

      expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200)
      // Every kind of hostile frame was exercised.
      for (const code of ['invalid_json', 'invalid_request', 'unknown_op', 'too_large']) expect(codes.get(code) ?? 0).toBeGreaterThan(100)

      const sent = await bystander.stop()
      expect(sent.length).toBeGreaterThan(10)
      await waitFor(() => b.events.filter(isMessage(conversation)).length === sent.length, 15_000)
      const live = b.events.filter(isMessage(conversation))
      expect(live.map((e) => e.seq)).toEqual(sent.map((s) => s.seq))
      expect(live.map((e) => e.body)).toEqual(sent.map((s) => s.body))
      expect((await syncAll(b, conversation)).map((m) => m.seq)).toEqual(sent.map((s) => s.seq))
      expect(a.closeCode).toBeUndefined()
      expect(b.closeCode).toBeUndefined()
    })

    // ---- generators ----

    function hostileFrame(): Frame {
      for (;;) {
        const frame = candidate()
        if (frame) return frame
      }
    }

    /** One malformed frame and the code the pure decoder gives it (undefined: it came out valid; draw again). */
    function candidate(): Frame | undefined {
      const kind = pick(['utf8', 'binary', 'garbage', 'nonObject', 'deep', 'deepBody', 'huge', 'unknownOp', 'id', 'duplicate', 'wrongType', 'oversized'] as const)
      switch (kind) {
        case 'utf8': {
          const bad = pick([[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82]])
          const data = Buffer.concat([Buffer.from(`{"id":"u${rand()}","op":"ping","x":"`), Buffer.from(bad), Buffer.from('"}')])
          return {data, binary: false, code: 'invalid_json'}
        }
        case 'binary':
          return {data: Buffer.from(Array.from({length: 1 + Math.floor(rand() * 64)}, () => Math.floor(rand() * 256))), binary: true, code: 'invalid_request'}
        case 'garbage':
          return expectDecoded(Array.from({length: 1 + Math.floor(rand() * 40)}, () => String.fromCharCode(32 + Math.floor(rand() * 95))).join(''))
        case 'nonObject':
          return expectDecoded(pick(['null', '42', '"ping"', '[]', '[{"id":"1","op":"ping"}]', 'true', '1e999', '-0']))
        case 'deep': {
          const depth = 1000 + Math.floor(rand() * 20_000)
          return expectDecoded(rand() < 0.5 ? '['.repeat(depth) + ']'.repeat(depth) : `{"id":"d","op":"ping","x":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`.slice(0, LIMITS.maxFrameBytes + 10))
        }
        case 'deepBody': {
          const depth = LIMITS.maxBodyDepth + 1 + Math.floor(rand() * 500)
          const body = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
          return expectDecoded(`{"id":"${id()}","op":"send","conversation":"${randomUUID()}","clientMsgId":"c${id()}","kind":"text","body":${body}}`)
        }
        case 'huge': {
          const number = pick(['1e400', '-1e400', '9007199254740993', '1e308', '123456789012345678901234567890', '-1', '0.5', '1e-400'])
          const op = pick(['sync', 'receipt', 'react', 'versions', 'delete', 'edit'] as const)
          const field = pick(['seq', 'after', 'limit'])
          return expectDecoded(`{"id":"${id()}","op":"${op}","conversation":"${randomUUID()}","${field}":${number},"type":"read","scope":"me","emoji":"x","body":"b"}`)
        }
        case 'unknownOp':
          return expectDecoded(JSON.stringify({id: id(), op: pick(['teleport', 'PING', 'send ', '', 'group.nuke', 'x'.repeat(500), '__proto__', 'constructor', 'toString'])}))
        case 'id':
          return expectDecoded(JSON.stringify({id: pick([undefined, '', 42, null, {}, [], 'i'.repeat(129), true]), op: 'ping'}))
        case 'duplicate':
          // The same id again: answered again (never deduplicated into silence).
          return expectDecoded(JSON.stringify({id: 'same-id', op: 'send', conversation: 'not-a-uuid'}))
        case 'wrongType':
          return wrongType()
        case 'oversized': {
          const size = LIMITS.maxFrameBytes + 1 + Math.floor(rand() * (LIMITS.hardMaxFrameBytes - LIMITS.maxFrameBytes - 1))
          if (rand() < 0.8) return undefined // keep bandwidth down: a few dozen per run
          return {data: JSON.stringify({id: id(), op: 'ping', pad: 'x'.repeat(size)}), binary: false, code: 'too_large'}
        }
      }
    }

    /** Every op, every field of its schema: a value of the wrong type (the other fields left out or also wrong). */
    function wrongType(): Frame | undefined {
      const op = pick(OP_NAMES)
      const shape = (requestSchemas[op] as unknown as {shape?: Record<string, unknown>}).shape ?? {}
      const fields = Object.keys(shape)
      const wrong = () => pick([42, -1, 1.5, true, null, [], {}, 'not-a-uuid', '', 'x'.repeat(300), [1, 2], {$gt: ''}, 1e308])
      const args: Record<string, unknown> = {}
      if (fields.length === 0) return undefined // ping, user.blocks: nothing to get wrong (extra fields are ignored)
      if (rand() < 0.7) args[pick(fields)] = wrong()
      else for (const f of fields) args[f] = wrong()
      return expectDecoded(JSON.stringify({id: id(), op, ...args}))
    }

    function expectDecoded(text: string): Frame | undefined {
      const decoded = decodeRequest(text)
      if (decoded.ok) return undefined
      return {data: text, binary: false, code: decoded.error.code}
    }

    function id(): string {
      return `f${Math.floor(rand() * 1e9).toString(36)}`
    }

    // ---- HTTP ----

    async function fuzzHttp(base: string, token: string, n: number): Promise<number> {
      const endpoints = ['/v1/auth/otp/start', '/v1/auth/otp/verify', '/v1/auth/refresh', '/v1/media'] as const
      const statuses = new Map<number, number>()
      for (let i = 0; i < n; i += 10) {
        await Promise.all(
          Array.from({length: Math.min(10, n - i)}, async () => {
            const path = pick(endpoints)
            const {body, type} = hostileBody(path)
            const headers: Record<string, string> = {'content-type': type}
            if (path === '/v1/media' && rand() < 0.7) headers.authorization = `Bearer ${token}`
            const res = await fetch(`${base}${path}`, {method: 'POST', headers, body})
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
            const text = await res.text()
            expect(res.status, `${path} ${text}`).toBeGreaterThanOrEqual(400)
            expect(res.status, `${path} ${text}`).toBeLessThan(500)
            const parsed = JSON.parse(text) as {error: {code: string; message: string}}
            expect(isErrorCode(parsed.error.code), text).toBe(true)
            expect(ERRORS[parsed.error.code as keyof typeof ERRORS].status).toBe(res.status)
          }),
        )
      }
      expect(statuses.size).toBeGreaterThanOrEqual(3)
      return n
    }

    function hostileBody(path: string): {body: Buffer | string; type: string} {
      const kind = pick(['json-garbage', 'utf8', 'deep', 'huge', 'wrong', 'oversized', 'type', 'empty'] as const)
      const json = 'application/json'
      switch (kind) {
        case 'json-garbage':
          return {body: pick(['{', '{"phone":', 'nul\u0000l', '[1,2', '{"a":1}}']), type: json}
        case 'utf8':
          return {body: Buffer.concat([Buffer.from('{"phone":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]), type: json}
        case 'deep': {
          const depth = 500 + Math.floor(rand() * 5000)
          return {body: `{"phone":${'['.repeat(depth)}${']'.repeat(depth)}}`.slice(0, 15_000), type: json}
        }
        case 'huge':
          return {body: `{"phone":1e400,"code":123456789012345678901234567890,"refreshToken":-1e308,"device":{"name":1e999,"platform":[]}}`, type: json}
        case 'wrong':
          return {body: JSON.stringify(pick([{phone: 42}, {phone: ['+1']}, {refreshToken: {}}, {code: true}, {phone: '+1', code: [], device: 'x'}, [], 'str', null, {refreshToken: 'x'.repeat(300)}])), type: json}
        case 'oversized':
          return {body: JSON.stringify({phone: 'x'.repeat(16 * 1024 + Math.floor(rand() * 100_000))}), type: json}
        case 'type':
          return {body: path === '/v1/media' ? Buffer.from([0, 1, 2, 3, 4, 5, 6, 7]) : '{"phone":"+15550001111"}', type: pick(['text/plain', 'application/x-www-form-urlencoded', 'image/png', 'multipart/form-data; boundary=x'])}
        case 'empty':
          return {body: '', type: json}
      }
    }
  })
})

// ---- sockets ----

function open(base: string, token: string): Promise<WebSocket> {
  const ws = new WebSocket(new URL('/v1/ws', base.replace(/^http/, 'ws')), 'msgr.v1+json', {headers: {authorization: `Bearer ${token}`}})
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

/** Error codes of every reply (`re`) and error event (`ev: error`) the socket receives; fails on a success reply. */
function collect(ws: WebSocket): string[] {
  const codes: string[] = []
  ws.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString()) as {ev?: string; ok?: boolean; error?: {code: string}}
    if (frame.ev === 'hello') return
    if (frame.ok === true) throw new Error(`a hostile frame was accepted: ${data.toString().slice(0, 200)}`)
    codes.push(frame.error?.code ?? 'missing')
  })
  return codes
}

function closeOf(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)))
}

/** Sends the frames on a fresh socket and waits for as many replies, or for a close. */
async function exchange(base: string, token: string, frames: Frame[]): Promise<{codes: string[]; closeCode?: number}> {
  const ws = await open(base, token)
  const codes = collect(ws)
  let closeCode: number | undefined
  void closeOf(ws).then((code) => (closeCode = code))
  for (const f of frames) ws.send(f.data, {binary: f.binary})
  await waitFor(() => codes.length >= frames.length || closeCode !== undefined, 20_000, 10)
  if (closeCode !== undefined) {
    expect(POLICY_CLOSES).toContain(closeCode)
  } else {
    await sleep(20) // a surplus reply would show here
    ws.close()
  }
  return {codes: [...codes], closeCode}
}

function sorted(xs: string[]): string[] {
  return [...xs].sort()
}

/** A sends to the conversation every few ms until stopped; returns what was acknowledged, in order. */
function keepTalking(c: MsgrClient, conversation: string) {
  const sent: Array<{seq: number; body: string}> = []
  let running = true
  let failure: unknown
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const body = `bystander ${i}`
      const {seq} = await c.request('send', {conversation, clientMsgId: `by-${i}`, kind: 'text', body})
      sent.push({seq, body})
      await sleep(25)
    }
  })().catch((error: unknown) => (failure = error))
  return {
    async stop() {
      running = false
      await loop
      if (failure) throw failure
      return sent
    },
  }
}
