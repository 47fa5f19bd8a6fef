import type {IncomingMessage, ServerResponse} from 'node:http'
import {Readable} from 'node:stream'

import {describe, expect, it} from 'vitest'

import {adminRoutes, type ConnectResponse, type NodesResponse} from '../../../src/control-plane/admin-api.js'
import type {Sql} from '../../../src/core/ports.js'
import type {HttpContext, Route} from '../../../src/server/http.js'

// The routes against a fake database: how many times each one reads the node list.

const USER = '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b'

describe('GET /v1/connect', () => {
  it('shares one node-list read among concurrent requests and within the window', async () => {
    let now = 1_000_000
    const db = fakeNodes()
    const routes = adminRoutes(db.sql, {livenessMs: 6_000, partitions: 8, clock: {now: () => now}})
    const answers = await Promise.all(Array.from({length: 50}, () => call<ConnectResponse>(routes, 'GET', `/v1/connect?user=${USER}`)))
    expect(new Set(answers.map((a) => a.url))).toEqual(new Set(['ws://gw0.internal:8080/v1/ws']))
    expect(db.reads()).toBe(1)
    now += 400
    await call(routes, 'GET', `/v1/connect?user=${USER}`)
    expect(db.reads()).toBe(1)
    now += 100
    await call(routes, 'GET', `/v1/connect?user=${USER}`)
    expect(db.reads()).toBe(2)
  })

  it('keeps admin reads fresh, routes nowhere at once after a drain through this control plane, and caches per instance', async () => {
    const db = fakeNodes()
    const clock = {now: () => 1_000_000}
    const routes = adminRoutes(db.sql, {livenessMs: 6_000, partitions: 8, clock})
    await call(routes, 'GET', `/v1/connect?user=${USER}`)
    await call<NodesResponse>(routes, 'GET', '/v1/admin/nodes')
    await call<NodesResponse>(routes, 'GET', '/v1/admin/nodes')
    expect(db.reads()).toBe(3)

    await call(routes, 'POST', '/v1/admin/drain', {node: 'gw0'})
    await expect(call(routes, 'GET', `/v1/connect?user=${USER}`)).rejects.toMatchObject({code: 'unavailable'})

    const other = adminRoutes(db.sql, {livenessMs: 6_000, partitions: 8, clock})
    const before = db.reads()
    await expect(call(other, 'GET', `/v1/connect?user=${USER}`)).rejects.toMatchObject({code: 'unavailable'})
    expect(db.reads()).toBe(before + 1)
  })
})

function fakeNodes(): {sql: Sql; reads: () => number} {
  let reads = 0
  let state = 'active'
  const row = () => ({
    id: 'gw0',
    role: 'gateway',
    address: 'gw0.internal:8080',
    version: '0.1.0',
    state,
    started_at: new Date(0),
    heartbeat_at: new Date(0),
    age_ms: 100,
    stats: {connections: 1},
    drain: null,
  })
  const sql = {
    kind: 'postgres',
    query: async (text: string) => {
      if (/FROM nodes/.test(text)) {
        reads++
        return {rows: [row()], rowCount: 1}
      }
      if (/UPDATE nodes SET state = 'draining'/.test(text)) {
        state = 'draining'
        return {rows: [], rowCount: 1}
      }
      throw new Error(`unexpected query: ${text}`)
    },
  } as unknown as Sql
  return {sql, reads: () => reads}
}

async function call<T = unknown>(routes: Route[], method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const url = new URL(path, 'http://cp.internal')
  const route = routes.find((r) => r.method === method && r.path === url.pathname)
  if (!route) throw new Error(`no route ${method} ${url.pathname}`)
  const req = Readable.from(body === undefined ? [] : [Buffer.from(JSON.stringify(body))]) as unknown as IncomingMessage
  req.headers = {'content-type': 'application/json'}
  const ctx: HttpContext = {req, res: {} as ServerResponse, url, requestId: 'r'}
  return (await route.handler(ctx)) as T
}
