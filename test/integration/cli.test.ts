import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {loginWithDevOtp, MsgrClient, RequestError} from '../../src/client/client.js'
import {MIGRATIONS} from '../../src/core/store/migrations.js'
import {randomPhone, sleep, waitFor} from '../helpers/cluster.js'
import {type MsgrProcess, runMsgr, startMsgr} from '../helpers/processes.js'
import {syncAll} from '../helpers/protocol.js'
import {createTestDatabase, deleteNatsStream, findServices, haveServices, testNamespace} from '../helpers/services.js'

// The real binary, as operators run it: `msgr serve all` on embedded defaults, and the split roles as
// separate processes on Postgres, NATS and Redis, with a worker killed by SIGKILL mid-stream.

const started: MsgrProcess[] = []
const cleanups: Array<() => Promise<void>> = []

afterAll(async () => {
  for (const p of started) await p.kill('SIGKILL')
  for (const cleanup of cleanups) await cleanup().catch(() => {})
})

describe('msgr serve all (embedded defaults)', () => {
  it('serves, drains clients with reconnect + 1012 on SIGTERM, and keeps history across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'msgr-all-'))
    cleanups.push(async () => rmSync(dataDir, {recursive: true, force: true}))
    const env = {MSGR_LOG_FORMAT: 'json'}
    const args = ['serve', 'all', '--dev', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir]
    const first = await startMsgr(args, env)
    started.push(first)

    const tokens = await runMsgr(['token', '--phone', randomPhone(), '--url', first.url, '--json'])
    expect(tokens.code).toBe(0)
    const a = JSON.parse(tokens.stdout) as {userId: string; accessToken: string}
    const b = await loginWithDevOtp(first.url, randomPhone())
    const ca = await MsgrClient.connect(first.url, a.accessToken)
    const cb = await MsgrClient.connect(first.url, b.accessToken)
    const {conversation} = await ca.request('conv.direct', {with: b.userId})
    for (let i = 1; i <= 5; i++) expect((await ca.request('send', {conversation, clientMsgId: `m${i}`, kind: 'text', body: `hi ${i}`})).seq).toBe(i)
    await cb.waitForEvent((e) => e.ev === 'message' && e.seq === 5)

    expect(await first.kill('SIGTERM')).toBe(0)
    expect(ca.events.some((e) => e.ev === 'reconnect')).toBe(true)
    await waitFor(() => ca.closeCode !== undefined && cb.closeCode !== undefined)
    expect(ca.closeCode).toBe(1012)

    const second = await startMsgr(args, env)
    started.push(second)
    const again = await MsgrClient.connect(second.url, b.accessToken) // same secret kept in the data dir
    const history = await again.request('sync', {conversation, after: 0})
    expect(history.messages.map((m) => m.body)).toEqual(['hi 1', 'hi 2', 'hi 3', 'hi 4', 'hi 5'])
    await again.close()
    expect(await second.kill('SIGTERM')).toBe(0)
  }, 90_000)

  it('fails fast with a message that names the fix', async () => {
    const noServices = await runMsgr(['serve', 'worker', '--port', '0'], {MSGR_DATABASE_URL: '', MSGR_NATS_URL: '', MSGR_REDIS_URL: ''})
    expect(noServices.code).not.toBe(0)
    expect(noServices.stderr).toMatch(/--database-url\s+\(MSGR_DATABASE_URL\)/)
    const noSecret = await runMsgr(['serve', 'gateway', '--port', '0'], {MSGR_JWT_SECRET: ''})
    expect(noSecret.code).not.toBe(0)
    expect(noSecret.stderr).toMatch(/--jwt-secret or\s+MSGR_JWT_SECRET/)
  })
})

const services = await haveServices('postgres', 'redis', 'nats')

describe.runIf(services)('msgr serve gateway | worker | control-plane (real services, separate processes)', () => {
  it('delivers through separate processes and loses nothing acknowledged when the worker is SIGKILLed', async () => {
    const urls = await findServices()
    const db = await createTestDatabase(urls.postgres!)
    const namespace = testNamespace()
    cleanups.push(db.drop, () => deleteNatsStream(urls.nats!, namespace))
    const env = {
      MSGR_LOG_FORMAT: 'json',
      MSGR_DATABASE_URL: db.url,
      MSGR_NATS_URL: urls.nats!,
      MSGR_REDIS_URL: urls.redis!,
      MSGR_NAMESPACE: namespace,
      MSGR_PARTITIONS: '4',
      MSGR_JWT_SECRET: 'cli-test-secret-cli-test-secret-cli-test',
      // Three senders as fast as acks come back: far above one user's send budget.
      MSGR_RATE_LIMITS: 'off',
    }
    const migrated = await runMsgr(['db', 'migrate', '--json'], env)
    expect(migrated.code).toBe(0)
    expect(JSON.parse(migrated.stdout)).toMatchObject({current: MIGRATIONS.at(-1)!.version})

    const cp = await startMsgr(['serve', 'control-plane', '--port', '0', '--host', '127.0.0.1', '--node-id', 'cp0'], env)
    const gw = await startMsgr(['serve', 'gateway', '--port', '0', '--host', '127.0.0.1', '--node-id', 'gw0', '--dev'], env)
    let worker = await startMsgr(['serve', 'worker', '--port', '0', '--host', '127.0.0.1', '--node-id', 'wk0'], env)
    started.push(cp, gw, worker)

    const a = await loginWithDevOtp(gw.url, randomPhone())
    const b = await loginWithDevOtp(gw.url, randomPhone())
    const ca = await MsgrClient.connect(gw.url, a.accessToken)
    const cb = await MsgrClient.connect(gw.url, b.accessToken)
    const {conversation} = await ca.request('conv.direct', {with: b.userId})

    const acked = new Map<string, number>()
    let stop = false
    const senders = Array.from({length: 3}, async (_, s) => {
      for (let n = 0; !stop && n < 400; n++) {
        for (;;) {
          try {
            const r = await ca.request('send', {conversation, clientMsgId: `p${s}-${n}`, kind: 'text', body: `${s}/${n}`})
            acked.set(`p${s}-${n}`, r.seq)
            break
          } catch (error) {
            if (!(error instanceof RequestError) || !['timeout', 'unavailable'].includes(error.code)) throw error
          }
        }
      }
    })
    await waitFor(() => acked.size >= 30, 20_000)
    await worker.kill('SIGKILL')
    const atKill = acked.size
    await sleep(500)
    worker = await startMsgr(['serve', 'worker', '--port', '0', '--host', '127.0.0.1', '--node-id', 'wk0'], env)
    started.push(worker)
    await waitFor(() => acked.size >= atKill + 30, 60_000)
    stop = true
    await Promise.all(senders)

    const history = await syncAll(cb, conversation)
    expect(history.map((m) => m.seq)).toEqual(Array.from({length: history.length}, (_, i) => i + 1))
    expect(history.length).toBe(acked.size)
    const stored = new Map(history.map((m) => [m.clientMsgId, m.seq]))
    for (const [id, seq] of acked) expect(stored.get(id)).toBe(seq)

    const nodes = (await (await fetch(`${cp.url}/v1/admin/nodes`)).json()) as {nodes: Array<{id: string; alive: boolean}>}
    expect(nodes.nodes.filter((n) => n.alive).map((n) => n.id).sort()).toEqual(['cp0', 'gw0', 'wk0'])
    for (const p of [cp, gw]) expect((await fetch(`${p.url}/readyz`)).status).toBe(200)
    await ca.close()
    await cb.close()
    for (const p of [worker, gw, cp]) expect(await p.kill('SIGTERM')).toBe(0)
  }, 120_000)
})
