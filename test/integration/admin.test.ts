import {randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loginWithDevOtp, MsgrClient} from '../../src/client/client.js'
import type {ConnectResponse, NodeResponse, NodesResponse, PartitionsResponse, StatusResponse, UndrainResponse} from '../../src/control-plane/admin-api.js'
import {AdminClient, type DrainResult} from '../../src/control-plane/admin-client.js'
import {randomPhone, waitFor} from '../helpers/cluster.js'
import {type MsgrProcess, runMsgr, startMsgr} from '../helpers/processes.js'

// The operator side of the control plane through the real binary: `msgr serve all` with an admin token,
// and `msgr node …`, `msgr partition list` and `msgr status` against it, ending with a real drain.

const TOKEN = 'admin-test-token-0123456789'
const PARTITIONS = 8

let server: MsgrProcess
let dataDir: string
let env: Record<string, string>
let admin: AdminClient
let nodeId: string
const clients: MsgrClient[] = []

/** Runs `msgr <args>` against the server; parses stdout when --json is among the args. */
async function msgr<T = unknown>(args: string[], extraEnv: Record<string, string> = {}) {
  const run = await runMsgr(args, {...env, ...extraEnv})
  let json: T | undefined
  if (args.includes('--json')) {
    try {
      json = JSON.parse(run.stdout) as T
    } catch {
      throw new Error(`msgr ${args.join(' ')} printed no JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`)
    }
  }
  return {...run, json: json as T}
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'msgr-admin-'))
  server = await startMsgr(
    ['serve', 'all', '--dev', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--partitions', String(PARTITIONS), '--admin-token', TOKEN, '--canary-interval', '0'],
    {MSGR_LOG_FORMAT: 'json'},
  )
  // Only what the commands read: no token from the developer's shell leaks in.
  env = {MSGR_CONTROL_PLANE_URL: server.url, MSGR_ADMIN_TOKEN: TOKEN}
  admin = new AdminClient({url: server.url, token: TOKEN})
  nodeId = (await admin.nodes()).nodes[0]!.id
  // The first heartbeat carries the stats.
  await waitFor(async () => (await admin.node(nodeId)).node.stats.uptimeSec !== undefined, 10_000, 100)
}, 60_000)

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {})
  await server?.kill('SIGKILL')
  if (dataDir) rmSync(dataDir, {recursive: true, force: true})
})

describe('msgr node | partition | status (serve all, admin token)', () => {
  it('lists, inspects and summarises the cluster', async () => {
    const list = await msgr<NodesResponse>(['node', 'list', '--json'])
    expect(list.code).toBe(0)
    expect(list.json.nodes).toHaveLength(1)
    expect(list.json.nodes[0]).toMatchObject({id: nodeId, role: 'gateway,worker,control-plane', state: 'active', alive: true, drain: null})
    expect(list.json.nodes[0]!.stats).toMatchObject({connections: 0, partitions: PARTITIONS})

    const inspect = await msgr<NodeResponse>(['node', 'inspect', nodeId, '--json'])
    expect(inspect.code).toBe(0)
    expect(inspect.json.node.id).toBe(nodeId)
    expect(inspect.json.leases.map((l) => l.partition)).toEqual(Array.from({length: PARTITIONS}, (_, p) => p))
    const unknown = await msgr<{error: {code: string}}>(['node', 'inspect', 'no-such-node', '--json'])
    expect(unknown.code).toBe(1)
    expect(unknown.json.error.code).toBe('not_found')

    const partitions = await msgr<PartitionsResponse>(['partition', 'list', '--json'])
    expect(partitions.code).toBe(0)
    expect(partitions.json.partitions).toHaveLength(PARTITIONS)
    for (const p of partitions.json.partitions) expect(p).toMatchObject({owner: nodeId, status: 'owned'})

    const status = await msgr<StatusResponse>(['status', '--json'])
    expect(status.code).toBe(0)
    expect(status.json).toMatchObject({
      ready: true,
      problems: [],
      nodes: {total: 1, alive: 1, byRole: {gateway: 1, worker: 1, 'control-plane': 1}},
      partitions: {total: PARTITIONS, owned: PARTITIONS, unowned: 0, expired: 0},
      gateways: {active: 1},
    })
  })

  it('requires the admin token on /v1/admin/* but not on /v1/connect', async () => {
    for (const path of ['/v1/admin/nodes', '/v1/admin/status', '/v1/admin/partitions', `/v1/admin/node?id=${nodeId}`]) {
      const res = await fetch(new URL(path, server.url))
      expect(res.status).toBe(401)
      expect(((await res.json()) as {error: {code: string}}).error.code).toBe('unauthenticated')
    }
    const wrong = await fetch(new URL('/v1/admin/drain', server.url), {
      method: 'POST',
      headers: {authorization: 'Bearer wrong-token', 'content-type': 'application/json'},
      body: JSON.stringify({node: nodeId}),
    })
    expect(wrong.status).toBe(401)
    expect((await admin.node(nodeId)).node.state).toBe('active')

    const noToken = await msgr(['node', 'list'], {MSGR_ADMIN_TOKEN: ''})
    expect(noToken.code).toBe(1)
    expect(noToken.stderr).toMatch(/--admin-token/)
    await expect(new AdminClient({url: server.url, token: 'wrong-token'}).status()).rejects.toMatchObject({code: 'unauthenticated'})

    const user = (await loginWithDevOtp(server.url, randomPhone())).userId
    const connect = await fetch(new URL(`/v1/connect?user=${user}`, server.url))
    expect(connect.status).toBe(200)
    expect((await connect.json()) as ConnectResponse).toEqual({node: nodeId, url: `ws://${new URL(server.url).host}/v1/ws`})
    expect((await fetch(new URL('/v1/connect?user=not-a-uuid', server.url))).status).toBe(400)
  })

  it('rejects bad usage with exit 2', async () => {
    const bad = await msgr(['node', 'drain', nodeId, '--deadline', '5x'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/60s, 2m/)
    expect((await msgr(['node', 'drain', '--json'])).code).toBe(2)
  })

  it('drain: --dry-run changes nothing, --detach cordons, undrain restores', async () => {
    for (let i = 0; i < 2; i++) {
      const pair = await loginWithDevOtp(server.url, randomPhone())
      const client = await MsgrClient.connect(server.url, pair.accessToken)
      await client.waitForEvent((e) => e.ev === 'hello')
      clients.push(client)
    }
    await waitFor(async () => (await admin.node(nodeId)).node.stats.connections === 2, 10_000, 200)

    const dry = await msgr<DrainResult>(['node', 'drain', nodeId, '--dry-run', '--json'])
    expect(dry.code).toBe(0)
    expect(dry.json.outcome).toBe('dry_run')
    if (dry.json.outcome !== 'dry_run') return
    expect(dry.json.plan).toMatchObject({node: nodeId, connections: 2, gatewayTargets: []})
    expect(dry.json.plan.partitions).toEqual(Array.from({length: PARTITIONS}, (_, partition) => ({partition, to: null})))
    expect(dry.json.plan.warnings.join('\n')).toMatch(/no other active gateway: 2 clients[\s\S]*no other live worker/)
    expect((await admin.node(nodeId)).node.state).toBe('active')

    const detached = await msgr<DrainResult>(['node', 'drain', nodeId, '--detach', '--deadline', '2m', '-m', 'maintenance', '--json'])
    expect(detached.code).toBe(0)
    expect(detached.json).toMatchObject({outcome: 'requested', node: {id: nodeId, state: 'draining'}, drain: {reason: 'maintenance', force: false}})
    if (detached.json.outcome !== 'requested') return
    expect(Date.parse(detached.json.drain.deadlineAt) - Date.parse(detached.json.drain.requestedAt)).toBe(120_000)
    // Cordoned at once: no gateway to route to, and the cluster says why.
    expect((await fetch(new URL(`/v1/connect?user=${randomUUID()}`, server.url))).status).toBe(503)
    const status = await msgr<StatusResponse>(['status', '--json'])
    expect(status.code).toBe(1)
    expect(status.json.ready).toBe(false)
    expect(status.json.problems).toContain('no active gateway')
    // The node carries it out on its next heartbeat: clients hear the reason.
    await Promise.all(clients.map((c) => c.waitForEvent((e) => e.ev === 'reconnect' && e.reason === 'maintenance', 10_000)))

    const undrain = await msgr<UndrainResponse>(['node', 'undrain', nodeId, '--json'])
    expect(undrain.code).toBe(0)
    expect(undrain.json).toMatchObject({changed: true, node: {state: 'active', drain: null}})
    expect((await admin.undrain(nodeId)).changed).toBe(false)
    // The node has seen the undrain once it reports no drain and holds its partitions again.
    await waitFor(
      async () => {
        const s = (await admin.node(nodeId)).node.stats
        return s.draining === false && s.partitions === PARTITIONS && (await admin.status()).ready
      },
      15_000,
      200,
    )
    for (const c of clients) expect(c.closeCode).toBeUndefined()
  })

  it('drain waits with progress until the node reports drained, then exits 0', async () => {
    expect((await admin.node(nodeId)).node.stats.connections).toBe(2)
    const drained = await msgr(['node', 'drain', nodeId, '--deadline', '5s', '-m', 'moving'])
    expect(drained.code, drained.stdout + drained.stderr).toBe(0)
    expect(drained.stdout).toMatch(/connections, \d+ partitions left; \d+s elapsed/) // plain lines: not a TTY
    expect(drained.stdout).toMatch(new RegExp(`node ${nodeId} drained in \\d+s`))
    for (const c of clients) {
      expect(c.closeCode).toBe(1012)
      expect(c.events.some((e) => e.ev === 'reconnect' && e.reason === 'moving')).toBe(true)
    }
    expect((await admin.node(nodeId)).node).toMatchObject({state: 'draining', stats: {connections: 0, partitions: 0, drained: true}})
    const table = await msgr(['node', 'list'])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^ID\s+ROLE\s+STATE\s+ALIVE\s+CONNS\s+PARTS\s+CPU\s+MEM\s+UPTIME\s+VERSION\n/)
    expect(table.stdout).toMatch(new RegExp(`${nodeId}\\s+gateway,worker,control-plane\\s+drained\\s+yes\\s+0\\s+0\\s`))
  }, 30_000)
})
