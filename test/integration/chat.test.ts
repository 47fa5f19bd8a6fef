import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {E2eCodec} from '../../src/chat/e2e-codec.js'
import {refresh} from '../../src/chat/auth.js'
import {ChatSession} from '../../src/chat/session.js'
import {startChat} from '../../src/chat/start.js'
import {deliveryMark, unreadCount, visibleMessages} from '../../src/chat/model.js'
import {openProfile, type StoredAuth} from '../../src/chat/store.js'
import {requestDrain} from '../../src/control-plane/node-registry.js'
import {availableLegs, LEGS, randomPhone, sleep, startCluster, type TestCluster, type TestUser, waitFor} from '../helpers/cluster.js'

// Two headless chat sessions (the session manager the terminal UI drives) against a real cluster:
// they exchange messages with replies, reactions, edits, deletes, receipts and typing; a drain of the
// gateway one of them is on moves it elsewhere without losing or duplicating anything; a restart
// catches up from the cursors saved in the config dir.

const available = await availableLegs()

describe.each(LEGS)('msgr chat sessions on %s adapters', (leg) => {
  describe.runIf(available[leg])('against a real cluster', () => {
    let cluster: TestCluster
    let dir: string
    const sessions: ChatSession[] = []

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1, config: {nodeHeartbeatMs: 300}})
      dir = mkdtempSync(join(tmpdir(), 'msgr-chat-'))
    }, 180_000)
    afterAll(async () => {
      await Promise.all(sessions.map((s) => s.close()))
      await cluster?.stop()
      rmSync(dir, {recursive: true, force: true})
    })

    const authOf = (user: TestUser, gateway: number): StoredAuth => ({
      url: cluster.gateways[gateway]!.url,
      phone: user.phone,
      userId: user.userId,
      deviceId: user.deviceId,
      accessToken: user.accessToken,
      refreshToken: user.refreshToken,
      accessExpiresAt: Date.now() + user.expiresIn * 1000,
    })
    const open = async (auth: StoredAuth, onAuth?: (a: StoredAuth) => void, e2e = false) => {
      const store = openProfile(join(dir, leg), auth.phone)
      const session = new ChatSession({
        auth,
        store,
        backoff: {minMs: 50, maxMs: 500},
        onAuth,
        e2e,
        ...(e2e ? {codec: (ctx) => new E2eCodec(ctx, store.e2eDir)} : {}),
      })
      sessions.push(session)
      await session.start()
      return session
    }
    const texts = (s: ChatSession, conv: string) => visibleMessages(s.getState().conversations[conv]!).map((m) => m.text)

    it('exchanges messages with replies, reactions, edits, deletes, receipts, unread counts and typing', async () => {
      const [ua, ub] = [await cluster.login(), await cluster.login()]
      const a = await open(authOf(ua, 0))
      const b = await open(authOf(ub, 1))
      expect(a.getState().connection.status).toBe('online')

      expect(await a.execute({cmd: 'dm', user: ub.userId})).toContain('direct conversation')
      const conv = a.getState().selected!
      await a.execute({cmd: 'send', text: 'hello from a'})
      await a.execute({cmd: 'send', text: 'second'})
      await waitFor(() => b.getState().conversations[conv]?.messages.length === 2, 15_000)
      // B has not opened it: two unread; the conversation learned its kind and members from the inbox.
      await waitFor(() => b.getState().conversations[conv]?.kind === 'direct', 10_000)
      expect(unreadCount(b.getState().conversations[conv]!, ub.userId)).toBe(2)
      expect(texts(b, conv)).toEqual(['hello from a', 'second'])
      // B's device reported delivery: A's marks say so.
      await waitFor(() => deliveryMark(a.getState().conversations[conv]!, 2, ua.userId) === 'delivered', 10_000)

      b.select(conv)
      expect(unreadCount(b.getState().conversations[conv]!, ub.userId)).toBe(0)
      await waitFor(() => deliveryMark(a.getState().conversations[conv]!, 2, ua.userId) === 'read', 10_000)

      // Typing, live.
      b.typing(true)
      await waitFor(() => Object.keys(a.getState().conversations[conv]!.typing).includes(ub.userId), 10_000)
      await b.execute({cmd: 'reply', seq: 1, text: 'hi back'})
      await waitFor(() => a.getState().conversations[conv]!.messages.some((m) => m.seq === 3), 10_000)
      const reply = a.getState().conversations[conv]!.messages.find((m) => m.seq === 3)!
      expect(reply).toMatchObject({text: 'hi back', replyTo: 1, sender: ub.userId})
      await waitFor(() => !Object.keys(a.getState().conversations[conv]!.typing).includes(ub.userId), 10_000)

      await b.execute({cmd: 'react', seq: 1, emoji: '👍', remove: false})
      await a.execute({cmd: 'edit', seq: 2, text: 'second (fixed)'})
      await a.execute({cmd: 'delete', seq: 1, scope: 'everyone'})
      for (const s of [a, b]) {
        await waitFor(() => s.getState().conversations[conv]!.cursor === 6, 10_000)
        const view = s.getState().conversations[conv]!
        expect(view.messages.find((m) => m.seq === 1)).toMatchObject({deleted: true})
        expect(view.messages.find((m) => m.seq === 2)).toMatchObject({text: 'second (fixed)', edited: true, version: 2})
        expect(visibleMessages(view).map((m) => m.seq)).toEqual([1, 2, 3])
      }
      // The reaction reached A before the delete wiped it: check on a fresh message.
      await a.execute({cmd: 'react', seq: 3, emoji: '🎉', remove: false})
      await waitFor(() => b.getState().conversations[conv]!.messages.find((m) => m.seq === 3)?.reactions['🎉']?.[0] === ua.userId, 10_000)

      // Groups: create with B, invite code, a third user joins by the code.
      await a.execute({cmd: 'group', name: 'climbing', members: [ub.userId]})
      const group = a.getState().selected!
      const invite = await a.execute({cmd: 'invite', approval: false})
      const code = /invite code (\S+):/.exec(invite!)![1]!
      const uc = await cluster.login()
      const c = await open(authOf(uc, 1))
      expect(await c.execute({cmd: 'join', code})).toContain('joined climbing')
      await c.execute({cmd: 'send', text: 'hi all'})
      await waitFor(() => texts(b, group).includes('hi all'), 10_000)
      await waitFor(() => b.getState().conversations[group]?.name === 'climbing', 10_000)
      expect(b.getState().conversations[group]!.members).toEqual(expect.arrayContaining([ua.userId, ub.userId, uc.userId]))
    }, 120_000)

    it('follows a drained gateway to another while both type, losing and duplicating nothing', async () => {
      const [ua, ub] = [await cluster.login(), await cluster.login()]
      const a = await open(authOf(ua, 0))
      const b = await open(authOf(ub, 1))
      await a.execute({cmd: 'dm', user: ub.userId})
      const conv = a.getState().selected!
      await a.execute({cmd: 'send', text: 'start'})
      await waitFor(() => b.getState().conversations[conv]?.cursor === 1, 10_000)
      b.select(conv)
      // Both type on through the drain, until A has moved and a little longer.
      let N = 0
      let movedAt: number | undefined
      const sending = (async () => {
        while (N < 20 || movedAt === undefined || N < movedAt + 10) {
          await a.execute({cmd: 'send', text: `a${N}`})
          await b.execute({cmd: 'send', text: `b${N}`})
          N++
          if (movedAt === undefined && a.getState().connection.url === cluster.gateways[1]!.url) movedAt = N
          await sleep(40)
        }
      })()
      await sleep(300)
      const gw0 = cluster.gateways[0]!
      await requestDrain(cluster.adaptersOf(gw0).sql, gw0.config.nodeId, {
        requestedAt: new Date().toISOString(),
        deadlineAt: new Date(Date.now() + 3000).toISOString(),
        force: false,
        reason: 'test drain',
      })
      await sending
      await waitFor(() => gw0.gateway!.connectionCount() === 0, 20_000)
      for (const s of [a, b]) await waitFor(() => s.getState().outbox.length === 0 && s.getState().conversations[conv]!.cursor === 2 * N + 1, 30_000)
      expect(a.getState().connection).toMatchObject({status: 'online', url: cluster.gateways[1]!.url, reconnects: 1})
      for (const s of [a, b]) {
        const view = s.getState().conversations[conv]!
        expect(view.messages.map((m) => m.seq)).toEqual(Array.from({length: 2 * N + 1}, (_, i) => i + 1))
        const all = view.messages.map((m) => m.text!).slice(1)
        expect(new Set(all).size).toBe(2 * N)
        for (let i = 0; i < N; i++) expect(all).toEqual(expect.arrayContaining([`a${i}`, `b${i}`]))
        // Each side's own messages in the order typed.
        expect(all.filter((t) => t.startsWith('a'))).toEqual(Array.from({length: N}, (_, i) => `a${i}`))
      }
      console.info(`[${leg}] chat drain: ${2 * N} messages typed through the drain (A moved after its message ${movedAt}), ${2 * N + 1} held on each side, 0 lost, 0 duplicated`)
      // A session started against the drained gateway opens anyway and says that it keeps trying.
      const late = await open(authOf(await cluster.login(), 0))
      expect(late.getState().connection).toMatchObject({status: 'reconnecting', error: expect.stringMatching(/unavailable|drain/)})
      await late.close()
    }, 120_000)

    it('catches up after a restart from the cursors saved in the config dir, resends the saved outbox with the same clientMsgId, and rotates expired tokens', async () => {
      const [ua, ub] = [await cluster.login(undefined, 'd', 1), await cluster.login(undefined, 'd', 1)]
      let auth = authOf(ua, 1)
      const a1 = await open(auth, (next) => (auth = next))
      const b = await open(authOf(ub, 1))
      await b.execute({cmd: 'dm', user: ua.userId})
      const conv = b.getState().selected!
      await b.execute({cmd: 'send', text: 'one'})
      await waitFor(() => a1.getState().conversations[conv]?.cursor === 1, 10_000)
      await a1.close()
      for (const t of ['two', 'three']) await b.execute({cmd: 'send', text: t})
      await waitFor(() => b.getState().outbox.length === 0, 10_000)

      // A crashes after its send reached the server but before the reply: the message is stored and
      // still in the saved outbox. Started again, it must not show (or store) it twice.
      const raw = await cluster.connect(ua, 1)
      await raw.request('send', {conversation: conv, clientMsgId: 'c-crash', kind: 'text', body: 'sent before the crash'})
      const file = join(dir, leg, 'profiles', ua.phone.slice(1), 'state.json')
      const saved = JSON.parse(readFileSync(file, 'utf8'))
      saved.outbox = [{conversation: conv, clientMsgId: 'c-crash', text: 'sent before the crash'}, {conversation: conv, clientMsgId: 'c-typed', text: 'typed offline'}]
      writeFileSync(file, JSON.stringify(saved))

      // The saved access token "expired": the new session refreshes it (rotating the refresh token) first.
      const a2 = await open({...auth, accessExpiresAt: Date.now() - 1000}, (next) => (auth = next))
      expect(auth.refreshToken).not.toBe(ua.refreshToken)
      await waitFor(() => a2.getState().conversations[conv]?.cursor === 5 && a2.getState().outbox.length === 0, 10_000)
      expect(texts(a2, conv)).toEqual(['one', 'two', 'three', 'sent before the crash', 'typed offline'])
      expect(unreadCount(a2.getState().conversations[conv]!, ua.userId)).toBe(0)
      const {messages} = await raw.request('sync', {conversation: conv, after: 0})
      expect(messages.map((m) => m.clientMsgId).filter((id) => id.startsWith('c-crash') || id === 'c-typed')).toEqual(['c-crash', 'c-typed'])
    }, 60_000)

    it('end-to-end encrypts direct conversations: the server stores ciphertext, both sides read it and agree on the safety number', async () => {
      const [ua, ub, uc] = [await cluster.login(), await cluster.login(), await cluster.login()]
      // Gateway 0 was drained by the test above: everyone is on gateway 1.
      const a = await open(authOf(ua, 1), undefined, true)
      const b = await open(authOf(ub, 1), undefined, true)
      await a.execute({cmd: 'dm', user: ub.userId})
      const conv = a.getState().selected!
      await a.execute({cmd: 'send', text: 'secret one'})
      await waitFor(() => b.getState().conversations[conv]?.cursor === 1, 15_000)
      b.select(conv)
      await b.execute({cmd: 'reply', seq: 1, text: 'secret two'})
      await waitFor(() => a.getState().conversations[conv]?.cursor === 2, 15_000)
      expect(texts(a, conv)).toEqual(['secret one', 'secret two'])
      expect(texts(b, conv)).toEqual(['secret one', 'secret two'])
      expect(a.getState().conversations[conv]!.messages[1]).toMatchObject({encrypted: true, replyTo: 1, sender: ub.userId})

      // What the server holds is kind "encrypted", with no plaintext in it.
      const raw = await cluster.connect(ua, 1)
      const {messages} = await raw.request('sync', {conversation: conv, after: 0})
      expect(messages.map((m) => m.kind)).toEqual(['encrypted', 'encrypted'])
      expect(JSON.stringify(messages)).not.toContain('secret')

      const numberA = await a.execute({cmd: 'safety'})
      const numberB = await b.execute({cmd: 'safety'})
      const digits = (line: string | undefined) => /: ([\d ]{60,})/.exec(line ?? '')?.[1]?.trim()
      expect(digits(numberA)).toMatch(/^(\d{5} ){11}\d{5}$/)
      expect(digits(numberA)).toBe(digits(numberB))
      await expect(a.execute({cmd: 'edit', seq: 1, text: 'x'})).rejects.toThrow(/not supported in end-to-end encrypted/)

      // A client without E2E sees a clear marker instead of ciphertext.
      const c = await open(authOf(uc, 1))
      await c.execute({cmd: 'dm', user: ua.userId})
      const cConv = c.getState().selected!
      await a.execute({cmd: 'dm', user: uc.userId})
      await a.execute({cmd: 'send', text: 'for c'})
      await waitFor(() => c.getState().conversations[cConv]?.cursor === 1, 15_000)
      expect(c.getState().conversations[cConv]!.messages[0]!.undecryptable).toMatch(/end-to-end encrypted/)
    }, 90_000)

    it('logs in by phone with the dev server’s code, keeps the tokens, and logs in again when the saved session is dead', async () => {
      const configDir = join(dir, leg, 'start')
      const phone = randomPhone()
      const options = {url: cluster.gateways[1]!.url, phone, configDir, e2e: false, promptCode: async () => 'never asked'}
      const first = await startChat(options)
      sessions.push(first)
      const store = openProfile(configDir, phone)
      const saved = store.readAuth()!
      expect(first.getState().connection.status).toBe('online')
      expect(saved).toMatchObject({phone, userId: first.me.userId, deviceId: first.me.deviceId})
      await first.close()

      // The same tokens next time: no new login, the same device.
      const again = await startChat(options)
      sessions.push(again)
      expect(again.me.deviceId).toBe(saved.deviceId)
      await again.close()

      // Someone else rotated the refresh token: the saved one is dead (and the session revoked). The next
      // start finds out when it refreshes, and logs in again as a new device of the same user.
      await refresh(store.readAuth()!)
      store.writeAuth({...store.readAuth()!, accessExpiresAt: 0})
      const relogged = await startChat(options)
      sessions.push(relogged)
      expect(relogged.me.userId).toBe(saved.userId)
      expect(relogged.me.deviceId).not.toBe(saved.deviceId)
      expect(relogged.getState().connection.status).toBe('online')
    }, 60_000)
  })
})
