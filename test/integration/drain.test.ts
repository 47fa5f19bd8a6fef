import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MsgrClient, RequestError} from '../../src/client/client.js'
import {requestDrain} from '../../src/control-plane/node-registry.js'
import type {ServerEvent} from '../../src/protocol/frames.js'
import {availableLegs, LEGS, sleep, startCluster, type TestCluster, type TestUser, waitFor} from '../helpers/cluster.js'
import {syncAll} from '../helpers/protocol.js'

// Zero-loss drain: a gateway holding many clients is drained while they send; every client follows its
// `reconnect` event to another gateway, nothing acknowledged is lost, and every conversation keeps one
// gapless order. A drained worker hands its partitions to another without loss.

const available = await availableLegs()
const CLIENTS = Number(process.env.MSGR_DRAIN_CLIENTS ?? 2000)
const SENDERS = 100

/** A client that follows reconnect events and retries unanswered sends with the same clientMsgId. */
class FollowingClient {
  conn!: MsgrClient
  gateway = ''
  moves = 0
  failedAttempts = 0
  private closed = false
  private switching: Promise<void> | undefined

  constructor(
    readonly user: TestUser,
    private readonly urls: string[],
  ) {}

  async connect(url: string): Promise<void> {
    const conn = await MsgrClient.connect(url, this.user.accessToken, {requestTimeoutMs: 15_000})
    await conn.waitForEvent((e) => e.ev === 'hello', 15_000).catch(async (error: unknown) => {
      await conn.close().catch(() => {})
      throw error
    })
    this.conn = conn
    this.gateway = url
    conn.on('event', (event: ServerEvent) => {
      if (event.ev === 'reconnect') this.follow(event.url, event.after ?? 0)
    })
    conn.on('close', () => {
      if (this.conn === conn) this.follow(undefined, 50)
    })
  }

  private follow(url: string | undefined, after: number): void {
    if (this.switching || this.closed) return
    const next = url ? `http://${new URL(url).host}` : this.urls.find((u) => u !== this.gateway)!
    this.switching = sleep(after)
      .then(async () => {
        const old = this.conn
        // The target may be refusing (draining too) or slow under load: try every gateway in turn, backing
        // off, until one takes us, as a real client does (giving up would strand it on the drained gateway).
        for (let attempt = 0; !this.closed; attempt++) {
          const url = attempt === 0 ? next : this.urls[attempt % this.urls.length]!
          try {
            await this.connect(url)
            break
          } catch {
            this.failedAttempts++
            await sleep(Math.min(1000, 100 * 2 ** Math.min(attempt, 4)))
          }
        }
        this.moves++
        await old.close().catch(() => {})
      })
      .finally(() => {
        this.switching = undefined
      })
  }

  async send(conversation: string, clientMsgId: string, body: string): Promise<number> {
    for (;;) {
      await this.switching
      try {
        return (await this.conn.request('send', {conversation, clientMsgId, kind: 'text', body})).seq
      } catch (error) {
        if (!(error instanceof RequestError) || !['timeout', 'unavailable', 'client_timeout'].includes(error.code)) throw error
        await sleep(50)
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true
    await this.switching?.catch(() => {})
    await this.conn.close().catch(() => {})
  }
}

describe.each(LEGS)('drain on %s adapters', (leg) => {
  describe.runIf(available[leg])('zero loss', () => {
    let cluster: TestCluster
    const clients: FollowingClient[] = []

    beforeAll(async () => {
      // Presence is not under test here; off, it does not add a contacts query per reconnect to the shared PGlite.
      cluster = await startCluster(leg, {gateways: 2, workers: 2, config: {nodeHeartbeatMs: 300, presence: 'off'}})
    }, 180_000)
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()))
      await cluster?.stop()
    })

    it(`moves ${CLIENTS} clients off a drained gateway while they send, losing nothing`, async () => {
      const urls = cluster.gateways.map((g) => g.url)
      const users: TestUser[] = []
      for (let i = 0; i < CLIENTS; i += 50) {
        users.push(...(await Promise.all(Array.from({length: Math.min(50, CLIENTS - i)}, () => cluster.login()))))
      }
      for (let i = 0; i < users.length; i += 100) {
        const batch = users.slice(i, i + 100).map((u) => new FollowingClient(u, urls))
        await Promise.all(batch.map((c) => c.connect(urls[0]!)))
        clients.push(...batch)
      }
      expect(cluster.gateways[0]!.gateway!.connectionCount()).toBe(CLIENTS)

      // Senders talk to partners; each pair is one direct conversation.
      const pairs = Array.from({length: SENDERS}, (_, i) => ({from: clients[2 * i]!, to: clients[2 * i + 1]!, conversation: ''}))
      for (const p of pairs) p.conversation = (await p.from.conn.request('conv.direct', {with: p.to.user.userId})).conversation
      const acked = new Map<string, Map<string, number>>()
      let stop = false
      const loops = pairs.map(async (p, s) => {
        const mine = new Map<string, number>()
        acked.set(p.conversation, mine)
        for (let n = 0; !stop; n++) {
          mine.set(`d${s}-${n}`, await p.from.send(p.conversation, `d${s}-${n}`, `${s}:${n}`))
          await sleep(20)
        }
      })
      await sleep(500)

      const deadlineMs = 6000
      const started = Date.now()
      await requestDrain(cluster.adaptersOf(cluster.gateways[0]!).sql, cluster.gateways[0]!.config.nodeId, {
        requestedAt: new Date().toISOString(),
        deadlineAt: new Date(Date.now() + deadlineMs).toISOString(),
        force: false,
        reason: 'test drain',
      })
      await waitFor(() => cluster.gateways[0]!.gateway!.connectionCount() === 0, deadlineMs + 15_000, 50)
      const drainedInMs = Date.now() - started
      expect((await fetch(`${urls[0]}/readyz`)).status).toBe(503)
      await waitFor(() => clients.every((c) => c.gateway === urls[1]), 45_000).catch((error: unknown) => {
        const behind = clients.filter((c) => c.gateway !== urls[1])
        const failed = clients.reduce((n, c) => n + c.failedAttempts, 0)
        throw new Error(`${behind.length} of ${CLIENTS} clients not on the other gateway (${failed} failed connect attempts in all): ${String(error)}`)
      })
      await sleep(500)
      stop = true
      await Promise.all(loops)

      let total = 0
      for (const p of pairs) {
        const history = await syncAll(p.to.conn, p.conversation)
        expect(history.map((m) => m.seq)).toEqual(Array.from({length: history.length}, (_, i) => i + 1))
        const stored = new Map(history.map((m) => [m.clientMsgId, m.seq]))
        for (const [id, seq] of acked.get(p.conversation)!) expect(stored.get(id)).toBe(seq)
        expect(history.length).toBe(acked.get(p.conversation)!.size)
        total += history.length
      }
      console.info(`[${leg}] drain: ${CLIENTS} clients moved in ${drainedInMs} ms (deadline ${deadlineMs} ms), ${total} messages acked and stored, 0 lost`)
    }, 240_000)

    it('hands a drained worker’s partitions to the other worker without loss', async () => {
      const [w0, w1] = cluster.workers
      const before = w0!.worker!.ownedPartitions().length
      expect(before).toBeGreaterThan(0)
      // Two clients that were not senders above, so their conversation starts empty.
      const a = clients.at(-1)!
      const b = clients.at(-2)!
      const {conversation} = await a.conn.request('conv.direct', {with: b.user.userId})
      const acked = new Map<string, number>()
      let stop = false
      const loop = (async () => {
        for (let n = 0; !stop; n++) acked.set(`w${n}`, await a.send(conversation, `w${n}`, `w${n}`))
      })()
      await sleep(300)
      await requestDrain(cluster.adaptersOf(w0!).sql, w0!.config.nodeId, {
        requestedAt: new Date().toISOString(),
        deadlineAt: new Date(Date.now() + 5000).toISOString(),
        force: false,
        reason: 'test drain',
      })
      await waitFor(() => w0!.worker!.ownedPartitions().length === 0, 20_000)
      await waitFor(() => w1!.worker!.ownedPartitions().length === cluster.workers[1]!.config.partitions, 20_000)
      await sleep(500)
      stop = true
      await loop
      const messages = await syncAll(b.conn, conversation)
      expect(messages.map((m) => m.seq)).toEqual(Array.from({length: messages.length}, (_, i) => i + 1))
      for (const [id, seq] of acked) expect(messages.find((m) => m.clientMsgId === id)?.seq).toBe(seq)
      expect(messages.length).toBe(acked.size)
    }, 60_000)
  })
})
