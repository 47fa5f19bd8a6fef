import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RequestError} from '../../src/client/client.js'
import {availableLegs, LEGS, sleep, startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'
import {syncAll} from '../helpers/protocol.js'

// A worker that dies for good: its leases lapse, the surviving worker takes every partition, and the
// messages that were in flight are redelivered to it and stored once, in order.

const available = await availableLegs()

describe.each(LEGS)('worker failover on %s adapters', (leg) => {
  describe.runIf(available[leg])('a worker is killed and not restarted', () => {
    let cluster: TestCluster

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 1, workers: 2, config: {leaseTtlMs: 2000}})
    }, 120_000)
    afterAll(async () => {
      await cluster?.stop()
    })

    it('moves its partitions to the survivor and resumes with nothing lost', async () => {
      const [w0, w1] = cluster.workers
      const partitions = w0!.config.partitions
      expect(w0!.worker!.ownedPartitions().length + w1!.worker!.ownedPartitions().length).toBe(partitions)
      expect(w0!.worker!.ownedPartitions().length).toBeGreaterThan(0)

      const a = await cluster.connect(await cluster.login())
      const pairs = await Promise.all(Array.from({length: 8}, () => cluster.login()))
      const conversations = await Promise.all(pairs.map(async (p) => (await a.request('conv.direct', {with: p.userId})).conversation))
      const acked = new Map<string, {conversation: string; seq: number}>()
      let stop = false
      const senders = conversations.map(async (conversation, s) => {
        for (let n = 0; !stop; n++) {
          const clientMsgId = `f${s}-${n}`
          for (;;) {
            try {
              const r = await a.request('send', {conversation, clientMsgId, kind: 'text', body: clientMsgId})
              acked.set(clientMsgId, {conversation, seq: r.seq})
              break
            } catch (error) {
              if (!(error instanceof RequestError) || !['timeout', 'unavailable'].includes(error.code)) throw error
            }
          }
        }
      })
      await waitFor(() => acked.size >= 50, 20_000)
      const killedAt = Date.now()
      await w0!.crash() // gone for good: its leases lapse, nothing is handed back
      await waitFor(() => w1!.worker!.ownedPartitions().length === partitions, 30_000, 50)
      const takeoverMs = Date.now() - killedAt
      const atTakeover = acked.size
      await waitFor(() => acked.size >= atTakeover + 50, 30_000)
      stop = true
      await Promise.all(senders)

      for (const conversation of conversations) {
        const history = await syncAll(a, conversation)
        expect(history.map((m) => m.seq)).toEqual(Array.from({length: history.length}, (_, i) => i + 1))
        const mine = [...acked].filter(([, v]) => v.conversation === conversation)
        expect(history.length).toBe(mine.length)
        for (const [id, {seq}] of mine) expect(history.find((m) => m.clientMsgId === id)?.seq).toBe(seq)
      }
      console.info(`[${leg}] worker failover: survivor owned all ${partitions} partitions ${takeoverMs} ms after the kill; ${acked.size} acked, 0 lost`)
      await sleep(10)
    }, 120_000)
  })
})
