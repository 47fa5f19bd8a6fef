import {randomInt} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {MsgrClient} from '../../src/client/client.js'
import {availableLegs, LEGS, startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'
import {isMessage, liveSeqs, range, strip, syncAll} from '../helpers/protocol.js'

// A 1,000-member group over two gateways, one connection per member, through real WebSocket clients:
// every online device gets every message it did not send exactly once and in seq order; members that
// were offline (never connected, or gone before the messages) catch up with inbox + sync to the same history.

const available = await availableLegs()

const MEMBERS = 1000
const NEVER_CONNECTED = 50 // members [900, 950): logged in, never connect before the messages
const GONE_BEFORE = 50 // members [950, 1000): connected, saw the group created, disconnected before the messages
const SENDERS = 5
const PER_SENDER = 4
const BATCH = 50

describe.each(LEGS)('1,000-member group on %s adapters', (leg) => {
  describe.runIf(available[leg])('scale', () => {
    let cluster: TestCluster

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('delivers 20 concurrent messages to every online device exactly once and in order; offline members catch up', async () => {
      const t0 = performance.now()
      const lap = (() => {
        let last = t0
        const laps: string[] = []
        return Object.assign(
          (name: string) => {
            const now = performance.now()
            laps.push(`${name} ${Math.round(now - last)}ms`)
            last = now
          },
          {laps},
        )
      })()

      // 1,000 users through the dev OTP endpoint (unique phones), half on each gateway.
      const users = await inBatches(uniquePhones(MEMBERS), BATCH, (phone, i) => cluster.login(phone, 'scale', i % 2))
      expect(new Set(users.map((u) => u.userId)).size).toBe(MEMBERS)
      lap('login')

      const onlineEnd = MEMBERS - NEVER_CONNECTED - GONE_BEFORE
      const neverIdx = range(onlineEnd, onlineEnd + NEVER_CONNECTED, 'exclusive')
      const goneIdx = range(onlineEnd + NEVER_CONNECTED, MEMBERS, 'exclusive')
      const connectedIdx = [...range(0, onlineEnd, 'exclusive'), ...goneIdx]
      const clients = new Map<number, MsgrClient>()
      await inBatches(connectedIdx, BATCH, async (i) => clients.set(i, await cluster.connect(users[i]!, i % 2)))
      lap('connect')

      const owner = clients.get(0)!
      const created = await owner.request('group.create', {name: 'Everyone', members: users.slice(1).map((u) => u.userId)})
      const conv = created.conversation
      expect(created.seq).toBe(1)
      expect(created.members).toHaveLength(MEMBERS)
      // Everyone connected (but the creating device) hears of it, then the "gone" members leave.
      await waitFor(() => connectedIdx.every((i) => i === 0 || clients.get(i)!.events.some(isMessage(conv, 1))), 30_000)
      lap('create')
      const tokens = new Map<number, string>()
      await inBatches(goneIdx, BATCH, async (i) => {
        tokens.set(i, (await clients.get(i)!.request('inbox', {})).token)
        await clients.get(i)!.close()
      })
      const onlineIdx = range(0, onlineEnd, 'exclusive')

      // 20 messages from 5 members at once (each sender in its own order).
      const senderIdx = range(1, 1 + SENDERS, 'exclusive')
      const acks = await Promise.all(
        senderIdx.map(async (i) => {
          const seqs: number[] = []
          for (let n = 0; n < PER_SENDER; n++) {
            const r = await clients.get(i)!.request('send', {conversation: conv, clientMsgId: `scale-${i}-${n}`, kind: 'text', body: `from ${i}: ${n}`})
            seqs.push(r.seq)
          }
          return seqs
        }),
      )
      const total = SENDERS * PER_SENDER
      const lastSeq = 1 + total
      expect(acks.flat().sort((x, y) => x - y)).toEqual(range(2, lastSeq + 1, 'exclusive'))
      const own = new Map(senderIdx.map((i, k) => [i, new Set(acks[k])]))
      own.set(0, new Set([1])) // the owner's device issued the create
      const expectedFor = (i: number) => range(1, lastSeq + 1, 'exclusive').filter((s) => !own.get(i)?.has(s))

      await waitFor(() => onlineIdx.every((i) => liveSeqs(clients.get(i)!, conv).length >= expectedFor(i).length), 30_000)
      lap('deliver')
      const reference = await syncAll(owner, conv)
      expect(reference.map((m) => m.seq)).toEqual(range(1, lastSeq + 1, 'exclusive'))
      const idBySeq = new Map(reference.map((m) => [m.seq, m.messageId]))
      const wrong: Array<{member: number; seqs: number[]; expected: number[]}> = []
      for (const i of onlineIdx) {
        const events = clients.get(i)!.events.filter(isMessage(conv))
        const seqs = events.map((e) => e.seq)
        // Exactly once and in increasing seq order: equal to the expected list (a duplicate or a swap breaks it).
        if (JSON.stringify(seqs) !== JSON.stringify(expectedFor(i)) || events.some((e) => e.messageId !== idBySeq.get(e.seq))) {
          wrong.push({member: i, seqs, expected: expectedFor(i)})
        }
      }
      expect(wrong.length, JSON.stringify(wrong.slice(0, 3))).toBe(0)
      // Nothing was pushed to the members that were gone.
      for (const i of goneIdx) expect(liveSeqs(clients.get(i)!, conv)).toEqual([1])

      // Offline members catch up: inbox says where the conversation ends, sync brings the same history.
      const want = strip(reference)
      const caughtUp = await inBatches([...goneIdx, ...neverIdx], BATCH, async (i) => {
        const c = await cluster.connect(users[i]!, i % 2)
        const inbox = await c.request('inbox', tokens.has(i) ? {after: tokens.get(i)} : {})
        const entry = inbox.conversations.find((e) => e.conversation === conv)
        const history = await syncAll(c, conv)
        return {i, entry, history}
      })
      for (const {i, entry, history} of caughtUp) {
        expect(entry, `member ${i}`).toMatchObject({status: 'member', kind: 'group', name: 'Everyone', lastSeq, memberCount: MEMBERS})
        expect(strip(history), `member ${i}`).toEqual(want)
      }
      lap('catch-up')
      console.info(`[${leg}] 1,000-member group: ${lap.laps.join(', ')}; total ${Math.round(performance.now() - t0)}ms`)
    }, 180_000)
  })
})

function uniquePhones(n: number): string[] {
  const base = randomInt(0, 10_000_000 - n)
  return Array.from({length: n}, (_, i) => `+1555${String(base + i).padStart(7, '0')}`)
}

/** Runs `fn` over `items`, at most `size` at a time (in order of batches); results in input order. */
async function inBatches<T, R>(items: readonly T[], size: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map((item, k) => fn(item, i + k)))))
  return out
}
