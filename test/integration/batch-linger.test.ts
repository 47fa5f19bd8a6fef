import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {MsgrClient} from '../../src/client/client.js'
import {BATCH_WORTH_STARTING} from '../../src/server/config.js'
import type {Metrics} from '../../src/server/metrics.js'
import {availableLegs, LEGS, sleep, startCluster, type TestCluster} from '../helpers/cluster.js'

// The worker's linger (batchLingerMs): a small queue waits for more sends before it is stored, so one
// batch carries what arrived meanwhile; a queue of BATCH_WORTH_STARTING starts at once, linger or not.

const available = await availableLegs()

async function batches(metrics: Metrics): Promise<{count: number; messages: number}> {
  const {values} = await metrics.batchSize.get()
  const pick = (name: string) => values.filter((v) => v.metricName === name).reduce((n, v) => n + v.value, 0)
  return {count: pick('msgr_worker_batch_size_count'), messages: pick('msgr_worker_batch_size_sum')}
}

async function conversationOf(cluster: TestCluster): Promise<{a: MsgrClient; conversation: string}> {
  const [ua, ub] = [await cluster.login(), await cluster.login()]
  const a = await cluster.connect(ua)
  const {conversation} = await a.request('conv.direct', {with: ub.userId})
  return {a, conversation}
}

describe.each(LEGS)('worker batch linger on %s adapters', (leg) => {
  describe.runIf(available[leg])('a 1 s linger', () => {
    let cluster: TestCluster
    beforeAll(async () => {
      cluster = await startCluster(leg, {config: {batchLingerMs: 1000}})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('stores sends that arrive within the linger as one batch, after the linger', async () => {
      const {a, conversation} = await conversationOf(cluster)
      const metrics = cluster.workers[0]!.metrics
      const before = await batches(metrics)
      const started = performance.now()
      const acks: Array<Promise<{seq: number}>> = []
      for (let i = 0; i < 5; i++) {
        acks.push(a.request('send', {conversation, clientMsgId: `l${i}`, kind: 'text', body: `lingered ${i}`}))
        await sleep(20)
      }
      await acks[0]
      const waited = performance.now() - started
      expect((await Promise.all(acks)).map((r) => r.seq).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5])
      // The first send was queued before its batch began; the batch waited out the linger.
      expect(waited).toBeGreaterThanOrEqual(900)
      const after = await batches(metrics)
      expect(after.count - before.count).toBe(1)
      expect(after.messages - before.messages).toBe(5)
    }, 20_000)
  })

  describe.runIf(available[leg])('a linger longer than the send timeout', () => {
    let cluster: TestCluster
    beforeAll(async () => {
      cluster = await startCluster(leg, {config: {batchLingerMs: 10_000}})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it(`starts a batch at once when ${BATCH_WORTH_STARTING} sends are queued`, async () => {
      const {a, conversation} = await conversationOf(cluster)
      const started = performance.now()
      const acks = Array.from({length: BATCH_WORTH_STARTING}, (_, i) =>
        a.request('send', {conversation, clientMsgId: `f${i}`, kind: 'text', body: `full ${i}`}),
      )
      const seqs = (await Promise.all(acks)).map((r) => r.seq).sort((x, y) => x - y)
      expect(seqs).toEqual(Array.from({length: BATCH_WORTH_STARTING}, (_, i) => i + 1))
      // Well inside the 8 s send timeout of the test cluster, let alone the 10 s linger.
      expect(performance.now() - started).toBeLessThan(8000)
    }, 30_000)

    it('does not wait out the linger when the worker stops', async () => {
      const {a, conversation} = await conversationOf(cluster)
      // One send waits in the queue for the 10 s linger; the client's answer does not matter here.
      void a.request('send', {conversation, clientMsgId: 'stop-1', kind: 'text', body: 'queued at stop'}).catch(() => {})
      await sleep(300)
      const started = performance.now()
      await cluster.workers[0]!.stop()
      expect(performance.now() - started).toBeLessThan(5000)
    }, 30_000)
  })
})
