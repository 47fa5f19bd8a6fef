import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {get} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket from 'ws'

import {startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'
import {runMsgr, startMsgr} from '../helpers/processes.js'

// TLS on the node itself: with a certificate and key (config `tls`, flags --tls-cert/--tls-key) the one
// port serves https:// and wss://, plain ws:// is refused, and the URLs the control plane hands out
// (/v1/connect) say wss://. The certificate is self-signed, made at test time with openssl.

let dir: string
let cert: string
let key: string
let ca: Buffer

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'msgr-tls-'))
  cert = join(dir, 'cert.pem')
  key = join(dir, 'key.pem')
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert,
  ], {stdio: 'ignore'})
  ca = readFileSync(cert)
})
afterAll(() => {
  rmSync(dir, {recursive: true, force: true})
})

describe('TLS served by the node (embedded adapters)', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster('embedded', {gateways: 1, workers: 1, config: {tls: {cert, key}}})
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  it('serves https and wss on the same port, and refuses plain ws', async () => {
    const gw = cluster.gateways[0]!
    expect(gw.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(await httpsGet(`${gw.url}/healthz`)).toMatchObject({status: 200, body: {status: 'ok'}})

    const login = await httpsJson(`${gw.url}/v1/auth/otp/start`, {phone: '+15550009999'})
    expect(login.status).toBe(202)
    const {body: otp} = await httpsGet(`${gw.url}/v1/dev/otp?phone=%2B15550009999`)
    const verified = await httpsJson(`${gw.url}/v1/auth/otp/verify`, {phone: '+15550009999', code: (otp as {code: string}).code, device: {name: 'tls', platform: 'test'}})
    const {accessToken, userId} = verified.body as {accessToken: string; userId: string}

    const ws = new WebSocket(`${gw.url.replace(/^https/, 'wss')}/v1/ws`, 'msgr.v1+json', {ca, headers: {authorization: `Bearer ${accessToken}`}})
    const frames: Array<Record<string, unknown>> = []
    ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString())))
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    await waitFor(() => frames.some((f) => f.ev === 'hello'))
    ws.send(JSON.stringify({id: 'p1', op: 'ping'}))
    await waitFor(() => frames.some((f) => f.re === 'p1'))
    expect(frames.find((f) => f.re === 'p1')).toMatchObject({ok: true})
    ws.close()

    // The same port does not speak plain WebSocket, and an untrusted certificate is refused by the client.
    const plain = new WebSocket(`${gw.url.replace(/^https/, 'ws')}/v1/ws`, 'msgr.v1+json', {headers: {authorization: `Bearer ${accessToken}`}})
    await expect(new Promise((resolve, reject) => plain.once('open', resolve).once('error', reject))).rejects.toThrow()
    const untrusted = new WebSocket(`${gw.url.replace(/^https/, 'wss')}/v1/ws`, 'msgr.v1+json', {headers: {authorization: `Bearer ${accessToken}`}})
    await expect(new Promise((resolve, reject) => untrusted.once('open', resolve).once('error', reject))).rejects.toThrow(/self-signed|certificate/)

    // Routing hands out wss:// URLs for a gateway that serves TLS.
    await waitFor(async () => (await httpsGet(`${gw.url}/v1/connect?user=${userId}`)).status === 200, 10_000, 100)
    const routed = await httpsGet(`${gw.url}/v1/connect?user=${userId}`)
    expect(routed.body).toMatchObject({url: expect.stringMatching(/^wss:\/\/127\.0\.0\.1:\d+\/v1\/ws$/)})
  })
})

describe('TLS flags of the msgr binary', () => {
  it('`msgr serve all --tls-cert --tls-key` serves https', {timeout: 120_000}, async () => {
    const data = join(dir, 'data')
    const proc = await startMsgr(['serve', 'all', '--port', '0', '--data-dir', data, '--dev', '--log-format', 'json', '--tls-cert', cert, '--tls-key', key, '--canary-interval', '0'], {}, 90_000)
    try {
      expect(proc.url).toMatch(/^https:\/\//)
      expect((await httpsGet(`${proc.url}/healthz`)).status).toBe(200)
    } finally {
      await proc.kill()
    }
  })

  it('names the flag when the certificate cannot be read or is not PEM', async () => {
    const missing = await runMsgr(['serve', 'all', '--port', '0', '--data-dir', join(dir, 'd2'), '--tls-cert', join(dir, 'nope.pem'), '--tls-key', key])
    expect(missing.code).not.toBe(0)
    expect(missing.stderr + missing.stdout).toMatch(/--tls-cert/)
    const garbage = join(dir, 'garbage.pem')
    writeFileSync(garbage, 'not a certificate')
    const bad = await runMsgr(['serve', 'all', '--port', '0', '--data-dir', join(dir, 'd3'), '--tls-cert', garbage, '--tls-key', key])
    expect(bad.code).not.toBe(0)
    expect(bad.stderr + bad.stdout).toMatch(/--tls-cert[\s\S]*not\s+a\s+PEM\s+file/)
  })
})

function httpsGet(url: string): Promise<{status: number; body: unknown}> {
  return new Promise((resolve, reject) => {
    get(url, {ca}, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined}))
    }).on('error', reject)
  })
}

async function httpsJson(url: string, body: unknown): Promise<{status: number; body: unknown}> {
  const {request} = await import('node:https')
  return new Promise((resolve, reject) => {
    const req = request(url, {method: 'POST', ca, headers: {'content-type': 'application/json'}}, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined}))
    })
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
}
