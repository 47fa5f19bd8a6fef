import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {CanaryResponse, StatusResponse} from '../../src/control-plane/admin-api.js'
import type {RunningNode} from '../../src/server/node.js'
import {LEGS, legAvailable, startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'

// The end-to-end canary the control-plane leader runs, through real gateways and workers: ok with
// latencies on a healthy cluster; failing, with /readyz 503 and status not ready, when sends cannot be
// acknowledged although every gateway is up; recovered once a worker is back.

const available = Object.fromEntries(await Promise.all(LEGS.map(async (leg) => [leg, await legAvailable(leg)] as const)))

const TIMEOUT_MS = 1_500

async function get<T>(node: RunningNode, path: string): Promise<{status: number; body: T}> {
  const res = await fetch(`${node.url}${path}`)
  return {status: res.status, body: (await res.json()) as T}
}

type Readyz = {status: string; leader?: boolean; checks: Record<string, boolean>}

describe.each(LEGS)('canary on %s adapters', (leg) => {
  describe.runIf(available[leg])('two gateways with the control plane, one worker', () => {
    let cluster: TestCluster
    let leader: RunningNode
    let follower: RunningNode

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1, config: {canary: {intervalMs: 250, timeoutMs: TIMEOUT_MS}}})
      await waitFor(() => cluster.gateways.some((g) => g.controlPlane!.election.isLeader()), 5_000)
      leader = cluster.gateways.find((g) => g.controlPlane!.election.isLeader())!
      follower = cluster.gateways.find((g) => g !== leader)!
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('reports ok with ack and delivery latencies, from the leader and through the follower', async () => {
      await waitFor(async () => (await get<CanaryResponse>(leader, '/v1/admin/canary')).body.history.filter((o) => o.ok).length >= 8, 15_000, 100)
      const {body: report} = await get<CanaryResponse>(leader, '/v1/admin/canary')
      expect(report).toMatchObject({enabled: true, leader: true, leaderNode: leader.config.nodeId, failing: false, last: {ok: true}})
      const ok = report.history.filter((o) => o.ok)
      for (const o of ok) {
        expect(o.ackMs).toBeGreaterThan(0)
        expect(o.deliveryMs).toBeGreaterThan(0)
        expect(o.ackMs).toBeLessThan(TIMEOUT_MS)
      }
      // The receiving device visits every gateway in turn.
      expect(new Set(ok.map((o) => o.receiver))).toEqual(new Set(cluster.gateways.map((g) => g.config.nodeId)))
      const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
      console.info(`${leg}: canary median ack ${median(ok.map((o) => o.ackMs!))} ms, delivery ${median(ok.map((o) => o.deliveryMs!))} ms over ${ok.length} probes`)

      // The follower runs no probes but reports what the leader publishes in its heartbeat.
      await waitFor(async () => (await get<CanaryResponse>(follower, '/v1/admin/canary')).body.last?.ok === true, 5_000, 100)
      expect((await get<CanaryResponse>(follower, '/v1/admin/canary')).body).toMatchObject({enabled: true, leader: false, leaderNode: leader.config.nodeId, failing: false, history: []})

      const status = await get<StatusResponse>(follower, '/v1/admin/status')
      expect(status.body).toMatchObject({ready: true, problems: [], canary: {enabled: true, failing: false, leaderNode: leader.config.nodeId}})
      for (const node of [leader, follower]) {
        const ready = await get<Readyz>(node, '/readyz')
        expect(ready.status).toBe(200)
        expect(ready.body.checks.canary).toBe(true)
      }
      const metrics = await (await fetch(`${leader.url}/metrics`)).text()
      expect(Number(/msgr_canary_delivery_seconds_count\{[^}]*\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(8)
      expect(Number(/msgr_canary_ack_seconds_count\{[^}]*\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(8)
    })

    it('fails while no worker acknowledges sends, turns /readyz 503 and status not ready, and recovers', async () => {
      // The worker dies; gateways and the control plane stay up. A replacement starts 8 s later.
      const restarted = cluster.crashAndRestartWorker(0, 8_000)
      await waitFor(async () => (await get<Readyz>(leader, '/readyz')).status === 503, 7_500, 100)
      const ready = await get<Readyz>(leader, '/readyz')
      expect(ready.body).toMatchObject({status: 'not_ready', leader: true, checks: {canary: false, database: true, bus: true, accepting: true}})

      const {body: report} = await get<CanaryResponse>(leader, '/v1/admin/canary')
      expect(report).toMatchObject({failing: true, last: {ok: false, stage: 'send'}})
      expect(report.consecutiveFailures).toBeGreaterThanOrEqual(2)
      expect(report.last!.error).toMatch(/no answer within 1500 ms/)
      const status = await get<StatusResponse>(leader, '/v1/admin/status')
      expect(status.body.ready).toBe(false)
      expect(status.body.problems.join('\n')).toMatch(/^canary failing: \d+ probes in a row/m)
      // The follower reads the verdict from the leader's heartbeat.
      await waitFor(async () => (await get<Readyz>(follower, '/readyz')).status === 503, 3_000, 100)
      const metrics = await (await fetch(`${leader.url}/metrics`)).text()
      expect(metrics).toMatch(/msgr_canary_failures_total\{[^}]*stage="send"[^}]*\} [1-9]/)

      await restarted
      const back = Date.now()
      await waitFor(async () => (await get<Readyz>(leader, '/readyz')).status === 200, 20_000, 100)
      console.info(`${leg}: canary ok again ${Date.now() - back} ms after the worker restarted`)
      expect((await get<CanaryResponse>(leader, '/v1/admin/canary')).body).toMatchObject({failing: false, last: {ok: true}})
      await waitFor(async () => (await get<Readyz>(follower, '/readyz')).status === 200, 5_000, 100)
      expect((await get<StatusResponse>(leader, '/v1/admin/status')).body).toMatchObject({ready: true, canary: {failing: false}})
    })
  })
})
