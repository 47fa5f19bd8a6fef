import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, request, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket, {WebSocketServer} from 'ws'

import type {RunSummary} from '../../src/simulator/report.js'
import {type MsgrProcess, runMsgr, startMsgr} from '../helpers/processes.js'

// `msgr sim run` against a real `msgr serve all --dev`: a clean run audits zero loss; a run through a proxy
// that drops deliveries (outside the simulator) is reported as loss and exits non-zero.

let server: MsgrProcess
const cleanups: (() => Promise<void> | void)[] = []

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'msgr-sim-'))
  cleanups.push(() => rmSync(dataDir, {recursive: true, force: true}))
  server = await startMsgr(['serve', 'all', '--dev', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {MSGR_LOG_FORMAT: 'json'}, 120_000)
}, 150_000)

afterAll(async () => {
  await server?.kill('SIGKILL')
  for (const cleanup of cleanups) await cleanup()
})

describe('msgr sim run', () => {
  it('runs a small seed-model scenario with zero loss and writes the report', async () => {
    const out = tempDir()
    const run = await runMsgr(simArgs(server.url, out, ['--users', '30', '--rate', '8']))
    expect(run.code, run.stderr).toBe(0)
    const summary = JSON.parse(run.stdout) as RunSummary
    expect(summary.ok).toBe(true)
    expect(summary.audit.messages).toBeGreaterThan(20)
    expect(summary.audit.expected).toBeGreaterThan(summary.audit.messages)
    expect(summary.audit).toMatchObject({missing: 0, duplicated: 0, liveMisses: 0, seqConflicts: 0})
    expect(summary.audit.deliveredLive + summary.audit.recoveredBySync).toBe(summary.audit.expected)
    expect(summary.latencyMs.delivery.count).toBeGreaterThan(0)
    expect(summary.counters.groupsCreated + summary.counters.directConversations).toBeGreaterThan(0)
    for (const file of ['report.json', 'report.md', 'latency.svg', 'throughput.svg']) expect(existsSync(join(out, file)), file).toBe(true)
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain('PASS: no loss')
    expect(readFileSync(join(out, 'latency.svg'), 'utf8')).toMatch(/^<\?xml[\s\S]*<svg[\s\S]*<path d="M/)
  }, 240_000)

  it('reports deliveries dropped by a proxy as loss (missing and live miss) and exits 1', async () => {
    const proxy = await startDroppingProxy(server.url)
    cleanups.push(() => proxy.close())
    const out = tempDir()
    // No churn: the two victim connections stay up, so nothing but the audit can notice the drops.
    const scenario = join(out, 'scenario.yaml')
    // The hidden message keeps a delivery pending: a short settle phase, then the final sync.
    writeFileSync(scenario, 'name: drop-test\nchurn:\n  perHour: 0\nmedia:\n  share: 0\nphases:\n  settle: 5s\n')
    const run = await runMsgr(simArgs(proxy.url, out, ['--users', '20', '--rate', '8', '--scenario', scenario]))
    expect(proxy.dropped()).toEqual({liveOnly: 1, hidden: 1})
    expect(run.code, run.stderr).toBe(1)
    const summary = JSON.parse(run.stdout) as RunSummary
    expect(summary.ok).toBe(false)
    // The message hidden from sync too never arrives: missing. The one only dropped live is fetched by a
    // sync while its device stayed connected: a live miss.
    expect(summary.audit.missing).toBe(1)
    expect(summary.audit.liveMisses).toBe(1)
    expect(summary.loss).toBe(2)
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain('FAIL: 2 lost')
  }, 240_000)
})

function simArgs(url: string, out: string, extra: string[]): string[] {
  return ['sim', 'run', '--url', url, '--duration', '8s', '--ramp-up', '3s', '--ramp-down', '1s', '--seed', '7', '--out', out, '--json', ...extra]
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'msgr-sim-out-'))
  cleanups.push(() => rmSync(dir, {recursive: true, force: true}))
  return dir
}

/**
 * An HTTP + WebSocket proxy in front of the server. On the first connection it drops one live `message`
 * event (sync still returns it); on the second it drops one and also removes that seq from every sync
 * reply on that connection, so the device can never get it. Only messages that reach a connection at
 * least 2 s after its hello are touched (certainly sent after the device was live).
 */
async function startDroppingProxy(target: string): Promise<{url: string; close(): Promise<void>; dropped(): {liveOnly: number; hidden: number}}> {
  const upstream = new URL(target)
  const counts = {liveOnly: 0, hidden: 0}
  let victims = 0
  const http: Server = createServer((req, res) => {
    const forward = request({host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers}, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    forward.on('error', () => res.destroy())
    req.pipe(forward)
  })
  const wss = new WebSocketServer({noServer: true, handleProtocols: (protocols) => [...protocols][0] ?? false})
  http.on('upgrade', (req, socket, head) => {
    const auth = req.headers.authorization
    const up = new WebSocket(new URL(req.url!, target.replace(/^http/, 'ws')), req.headers['sec-websocket-protocol']?.split(',').map((p) => p.trim()), {
      headers: auth ? {authorization: auth} : {},
    })
    up.once('unexpected-response', () => socket.destroy())
    up.once('error', () => socket.destroy())
    up.once('open', () => {
      // Frames can come before the client side is set up: hold them until it is.
      const early: [WebSocket.RawData, boolean][] = []
      const hold = (data: WebSocket.RawData, isBinary: boolean) => early.push([data, isBinary])
      up.on('message', hold)
      wss.handleUpgrade(req, socket, head, (client) => {
        let helloAt = Infinity
        let mode: 'none' | 'liveOnly' | 'hidden' = 'none'
        let hiddenSeq: {conversation: string; seq: number} | undefined
        const syncOf = new Map<string, string>()
        client.on('message', (data, isBinary) => {
          if (!isBinary) {
            const frame = JSON.parse(data.toString()) as {id?: string; op?: string; conversation?: string}
            if (frame.op === 'sync' && frame.id && frame.conversation) syncOf.set(frame.id, frame.conversation)
          }
          if (up.readyState === WebSocket.OPEN) up.send(data, {binary: isBinary})
        })
        const onUpstream = (data: WebSocket.RawData, isBinary: boolean) => {
          if (isBinary) return client.send(data, {binary: true})
          const frame = JSON.parse(data.toString()) as Record<string, unknown>
          if (frame.ev === 'hello') helloAt = Date.now()
          if (frame.ev === 'message' && frame.kind !== 'system' && Date.now() - helloAt > 2000) {
            if (mode === 'none' && victims < 2) mode = victims++ === 0 ? 'liveOnly' : 'hidden'
            if (mode === 'liveOnly' && counts.liveOnly === 0) {
              counts.liveOnly++
              return
            }
            if (mode === 'hidden' && !hiddenSeq) {
              hiddenSeq = {conversation: frame.conversation as string, seq: frame.seq as number}
              counts.hidden++
              return
            }
          }
          if (hiddenSeq && typeof frame.re === 'string' && syncOf.get(frame.re) === hiddenSeq.conversation && Array.isArray(frame.messages)) {
            frame.messages = (frame.messages as {seq: number}[]).filter((m) => m.seq !== hiddenSeq!.seq)
            return client.send(JSON.stringify(frame))
          }
          client.send(data, {binary: false})
        }
        up.off('message', hold)
        up.on('message', onUpstream)
        for (const [data, isBinary] of early) onUpstream(data, isBinary)
        client.on('close', () => up.close())
        up.on('close', (code) => client.close(code === 1005 || code === 1006 ? 1011 : code))
      })
    })
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    dropped: () => ({...counts}),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate()
        http.closeAllConnections()
        http.close(() => resolve())
      }),
  }
}
