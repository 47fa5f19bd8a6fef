import {randomUUID} from 'node:crypto'

import {createPostgresSql} from '../../src/adapters/postgres/sql.js'
import {MsgrClient, type TokenPair} from '../../src/client/client.js'
import {createAuthService} from '../../src/core/auth/auth-service.js'
import {createLogSmsSink} from '../../src/core/auth/sms.js'
import {directConversationId, partitionOf} from '../../src/core/ids.js'
import {silentLogger} from '../../src/core/logger.js'
import {sleep} from '../../src/server/local-cluster.js'

// Measures recovery: a probe user with one direct conversation on every partition sends to all of them
// in rounds; the cluster has recovered from a fault when a send to every partition has been acknowledged
// again (every partition has a live owner, the bus and database take writes, a gateway takes the socket).

export interface Probe {
  /** Connects the probe's socket to this gateway (the one a gateway fault will kill). */
  pin(gatewayUrl: string): Promise<void>
  /** ms from `since` until a whole round of sends succeeds (gives up after `limitMs`). */
  recovery(since: number, limitMs: number): Promise<number>
  close(): Promise<void>
}

export async function createProbe(options: {databaseUrl: string; jwtSecret: string; routerUrl: string; partitions: number}): Promise<Probe> {
  const sql = createPostgresSql({url: options.databaseUrl, max: 2, applicationName: 'msgr-chaos-probe'})
  const auth = createAuthService({sql, sms: createLogSmsSink(silentLogger()), jwtSecret: options.jwtSecret})
  const tag = randomUUID().slice(0, 6)
  const device = {name: 'probe', platform: 'chaos'}
  let me: TokenPair
  const peers: string[] = []
  const covered = new Set<number>()
  try {
    me = await auth.issueForPhone(phone(tag, 0), device)
    for (let i = 1; covered.size < options.partitions && i < 500; i++) {
      const peer = await auth.issueForPhone(phone(tag, i), device)
      const partition = partitionOf(directConversationId(me.userId, peer.userId), options.partitions)
      if (covered.has(partition)) continue
      covered.add(partition)
      peers.push(peer.userId)
    }
  } finally {
    await sql.close()
  }
  let client: MsgrClient | undefined
  let conversations: string[] = []
  let n = 0

  const connect = async (base?: string) => {
    client?.ws.terminate()
    client = undefined
    const url = base ?? (await route())
    const c = await MsgrClient.connect(url, me.accessToken, {requestTimeoutMs: 5000, handshakeTimeoutMs: 5000})
    await c.waitForEvent((e) => e.ev === 'hello', 5000)
    if (conversations.length === 0) conversations = await Promise.all(peers.map(async (peer) => (await c.request('conv.direct', {with: peer})).conversation))
    client = c
  }
  const route = async () => {
    const res = await fetch(`${options.routerUrl}/v1/connect?user=${me.userId}`, {signal: AbortSignal.timeout(3000)})
    const body = (await res.json()) as {url?: string}
    if (!body.url) throw new Error('no gateway routed')
    return body.url.replace(/^ws/, 'http').replace(/\/v1\/ws$/, '')
  }
  let lastError = ''
  /** Sends once to each conversation not yet in `ok`; adds those acknowledged. */
  const round = async (ok: Set<string>): Promise<void> => {
    try {
      if (!client || client.closeCode !== undefined) await connect()
    } catch (error) {
      lastError = `connect: ${(error as Error).message}`
      return
    }
    const c = client!
    await Promise.all(
      conversations
        .filter((conversation) => !ok.has(conversation))
        .map((conversation) =>
          c.request('send', {conversation, clientMsgId: `probe-${tag}-${n++}`, kind: 'text', body: 'probe'}).then(
            () => ok.add(conversation),
            (error: Error) => (lastError = `send: ${error.message}`),
          ),
        ),
    )
  }

  return {
    pin: (gatewayUrl) => connect(gatewayUrl),
    async recovery(since, limitMs) {
      // Each partition counts as recovered at its first acknowledged send after `since`.
      const ok = new Set<string>()
      for (;;) {
        await round(ok)
        if (conversations.length > 0 && ok.size === conversations.length) return Date.now() - since
        if (Date.now() - since > limitMs) {
          throw new Error(`not recovered within ${limitMs} ms: ${ok.size}/${conversations.length} partitions answer; last error: ${lastError}`)
        }
        await sleep(100)
      }
    },
    async close() {
      await client?.close().catch(() => {})
    },
  }
}

function phone(tag: string, i: number): string {
  const digits = (parseInt(tag, 16) % 1_000_000).toString().padStart(6, '0')
  return `+1999${digits}${String(i).padStart(3, '0')}`
}
