import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createPostgresLeaderElection} from '../../src/adapters/postgres/leader.js'
import type {LeaderElection} from '../../src/core/ports.js'
import type {NodesResponse} from '../../src/control-plane/admin-api.js'
import type {RunningNode} from '../../src/server/node.js'
import {LEGS, legAvailable, startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'
import {createTestDatabase, findServices, haveServices} from '../helpers/services.js'

// Leadership among control-plane replicas: exactly one leader, and a quick, clean handover when it goes.

const available = Object.fromEntries(await Promise.all(LEGS.map(async (leg) => [leg, await legAvailable(leg)] as const)))
const havePostgres = await haveServices('postgres')

const leaders = (nodes: readonly RunningNode[]) => nodes.filter((n) => n.controlPlane?.election.isLeader())

async function readyz(node: RunningNode): Promise<{status: number; body: {leader?: boolean; checks: Record<string, boolean>}}> {
  const res = await fetch(`${node.url}/readyz`)
  return {status: res.status, body: (await res.json()) as {leader?: boolean; checks: Record<string, boolean>}}
}

describe.runIf(havePostgres)('Postgres leader election (advisory lock on a dedicated connection)', () => {
  let database: {url: string; drop: () => Promise<void>}
  const elections: LeaderElection[] = []

  beforeAll(async () => {
    database = await createTestDatabase((await findServices()).postgres!)
  })
  afterAll(async () => {
    for (const e of elections) await e.close().catch(() => {})
    await database?.drop()
  })

  const campaign = (name: string) => {
    const election = createPostgresLeaderElection({url: database.url, applicationName: `msgr-leader:${name}`})
    elections.push(election)
    return election
  }

  it('elects exactly one; a killed connection steps down at once and the other takes over within ~2 s', async () => {
    const a = campaign('a')
    await waitFor(() => a.isLeader(), 5_000)
    const b = campaign('b')
    const changes: string[] = []
    a.onChange((leader) => changes.push(`a:${leader}`))
    b.onChange((leader) => changes.push(`b:${leader}`))
    await new Promise((r) => setTimeout(r, 1_500)) // b has tried at least once
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false])

    // The leader's connection dies (terminated by an operator, a failover, a network cut).
    const admin = createPostgresAdmin(database.url)
    const killedAt = Date.now()
    await admin.terminate('msgr-leader:a')
    await waitFor(() => !a.isLeader(), 1_000, 5)
    const steppedDownMs = Date.now() - killedAt
    await waitFor(() => b.isLeader(), 3_000, 10)
    const takeoverMs = Date.now() - killedAt
    console.info(`leader election: old leader stepped down after ${steppedDownMs} ms, new leader after ${takeoverMs} ms`)
    expect(steppedDownMs).toBeLessThan(500)
    expect(takeoverMs).toBeLessThan(2_500)
    // a came back as a follower: never two leaders.
    await new Promise((r) => setTimeout(r, 3_000))
    expect([a.isLeader(), b.isLeader()]).toEqual([false, true])
    expect(changes).toEqual(['a:false', 'b:true'])

    // A graceful close unlocks: the follower takes over on its next try.
    const closedAt = Date.now()
    await b.close()
    await waitFor(() => a.isLeader(), 2_500, 10)
    console.info(`leader election: handover after a graceful close in ${Date.now() - closedAt} ms`)
    await admin.end()
  })
})

describe.each(LEGS)('control-plane leadership on %s adapters', (leg) => {
  describe.runIf(available[leg])('two control-plane nodes', () => {
    let cluster: TestCluster

    beforeAll(async () => {
      // gw0 and gw1 both carry the control-plane role.
      cluster = await startCluster(leg, {gateways: 2, workers: 1})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('has exactly one leader, shown in heartbeats and /readyz; when it crashes the other takes over', async () => {
      await waitFor(() => leaders(cluster.gateways).length === 1, 5_000)
      await new Promise((r) => setTimeout(r, 1_500)) // the follower has tried, and failed, to take the lock
      const [leader] = leaders(cluster.gateways)
      expect(leaders(cluster.gateways)).toEqual([leader])
      const follower = cluster.gateways.find((g) => g !== leader)!
      if (leg === 'embedded') expect(leader).toBe(cluster.gateways[0]) // first in line in the process

      await waitFor(async () => {
        const {nodes} = (await (await fetch(`${follower.url}/v1/admin/nodes`)).json()) as NodesResponse
        const byId = new Map(nodes.map((n) => [n.id, n.stats.leader]))
        return byId.get(leader!.config.nodeId) === true && byId.get(follower.config.nodeId) === false
      })
      for (const [node, isLeader] of [[leader!, true], [follower, false]] as const) {
        const ready = await readyz(node)
        expect(ready.status).toBe(200)
        expect(ready.body.leader).toBe(isLeader)
      }
      // Workers do not campaign.
      expect(cluster.workers[0]!.controlPlane).toBeUndefined()
      expect((await readyz(cluster.workers[0]!)).body.leader).toBeUndefined()

      const crashedAt = Date.now()
      await leader!.crash()
      await waitFor(() => follower.controlPlane!.election.isLeader(), 3_000, 10)
      console.info(`${leg}: control-plane takeover ${Date.now() - crashedAt} ms after the leader crashed`)
      expect((await readyz(follower)).body.leader).toBe(true)
    })
  })
})

function createPostgresAdmin(url: string) {
  const sqlPromise = import('pg').then(async ({default: pg}) => {
    const client = new pg.Client({connectionString: url})
    await client.connect()
    return client
  })
  return {
    async terminate(applicationName: string) {
      const client = await sqlPromise
      const {rowCount} = await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [applicationName])
      expect(rowCount).toBe(1)
    },
    async end() {
      await (await sqlPromise).end()
    },
  }
}
