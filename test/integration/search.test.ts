import {randomInt} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {MsgrClient} from '../../src/client/client.js'
import type {SearchHit, SearchResult} from '../../src/protocol/frames.js'
import {availableLegs, LEGS, startCluster, type TestCluster} from '../helpers/cluster.js'
import {expectCode, pair} from '../helpers/protocol.js'

// Message search (docs/protocol.md, `search`) through real WebSocket clients, on both adapter sets.

const available = await availableLegs()

describe.each(LEGS)('search on %s adapters', (leg) => {
  describe.runIf(available[leg])('search', () => {
    let cluster: TestCluster

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('finds words in text bodies and in the text and caption of object bodies, as sync shows the message', async () => {
      const {a, b, conversation} = await pair(cluster)
      const fox = word()
      await send(a, conversation, 'text', `the quick brown ${fox} jumps`)
      await send(b, conversation, 'text', 'nothing to see here')
      await send(a, conversation, 'location', {text: `meet at the ${fox.toUpperCase()} bar`, lat: 52.5, lng: 13.4})
      await send(b, conversation, 'sticker', {caption: `a ${fox} at dawn`, pack: 'animals'})
      await send(a, conversation, 'sticker', {pack: fox}) // other keys of an object body are not searched

      const found = await b.request('search', {query: fox})
      expect(found.results.map((r) => r.seq)).toEqual([4, 3, 1])
      expect(found.cursor).toBeUndefined()
      const history = await b.request('sync', {conversation, after: 0})
      for (const hit of found.results) {
        const {rank, snippet, ...view} = hit
        expect(view).toEqual(history.messages.find((m) => m.seq === hit.seq))
        expect(rank).toBeGreaterThan(0)
        expect(snippet?.toLowerCase()).toContain(`«${fox}»`)
      }
      expect(found.results[1]!.snippet).toBe(`meet at the «${fox.toUpperCase()}» bar`)
      // Matching ignores case; the snippet keeps the text as written.
      expect((await a.request('search', {query: fox.toUpperCase()})).results.map((r) => r.seq)).toEqual([4, 3, 1])
    })

    it('never returns messages of conversations the caller is not in', async () => {
      const one = await pair(cluster)
      const two = await pair(cluster)
      const secret = word()
      await send(one.a, one.conversation, 'text', `launch code ${secret}`)
      await send(two.a, two.conversation, 'text', `launch code ${secret}`)

      for (const [c, conversation] of [
        [one.a, one.conversation],
        [one.b, one.conversation],
        [two.a, two.conversation],
        [two.b, two.conversation],
      ] as const) {
        const found = await c.request('search', {query: `launch ${secret}`})
        expect(found.results.map((r) => r.conversation)).toEqual([conversation])
      }
      await expectCode(one.a.request('search', {query: secret, conversation: two.conversation}), 'forbidden')
      await expectCode(one.a.request('search', {query: secret, conversation: '00000000-0000-4000-8000-000000000000'}), 'not_found')
    })

    it('stops finding a group’s messages once the caller is removed from it', async () => {
      const owner = await login(cluster, 0)
      const member = await login(cluster, 1)
      const topic = word()
      const {conversation: group} = await owner.client.request('group.create', {name: 'planning', members: [member.userId]})
      await send(owner.client, group, 'text', `agenda for ${topic}`)
      const direct = (await member.client.request('conv.direct', {with: owner.userId})).conversation
      await send(owner.client, direct, 'text', `also ${topic} here`)

      const before = await member.client.request('search', {query: topic})
      expect(before.results.map((r) => r.conversation)).toEqual([direct, group])

      await owner.client.request('group.remove', {conversation: group, members: [member.userId]})
      const after = await member.client.request('search', {query: topic})
      expect(after.results.map((r) => r.conversation)).toEqual([direct])
      await expectCode(member.client.request('search', {query: topic, conversation: group}), 'forbidden')
      // The owner still finds both.
      expect((await owner.client.request('search', {query: topic})).results).toHaveLength(2)
    })

    it('leaves out messages deleted for everyone and those the caller deleted for itself, and finds edits by their new text', async () => {
      const {a, b, conversation} = await pair(cluster)
      const term = word()
      const edited = word()
      await send(a, conversation, 'text', `${term} one`)
      await send(a, conversation, 'text', `${term} two`)
      await send(a, conversation, 'text', `${term} three`)
      await send(a, conversation, 'text', `${term} four`)
      await a.request('delete', {conversation, seq: 2, scope: 'everyone'})
      await b.request('delete', {conversation, seq: 3, scope: 'me'})
      await a.request('edit', {conversation, seq: 4, body: `${edited} four`})

      expect((await a.request('search', {query: term})).results.map((r) => r.seq)).toEqual([3, 1])
      expect((await b.request('search', {query: term})).results.map((r) => r.seq)).toEqual([1])
      const found = await b.request('search', {query: edited})
      expect(found.results.map((r) => r.seq)).toEqual([4])
      expect(found.results[0]).toMatchObject({edited: true, body: `${edited} four`})
    })

    it('restricts to one conversation when asked', async () => {
      const a = await login(cluster, 0)
      const b = await login(cluster, 1)
      const c = await login(cluster, 1)
      const ab = (await a.client.request('conv.direct', {with: b.userId})).conversation
      const ac = (await a.client.request('conv.direct', {with: c.userId})).conversation
      const term = word()
      await send(a.client, ab, 'text', `${term} to b`)
      await send(a.client, ac, 'text', `${term} to c`)
      await send(c.client, ac, 'text', `${term} from c`)

      expect((await a.client.request('search', {query: term})).results).toHaveLength(3)
      const onlyAc = await a.client.request('search', {query: term, conversation: ac})
      expect(onlyAc.results.map((r) => [r.conversation, r.seq])).toEqual([
        [ac, 2],
        [ac, 1],
      ])
      expect((await a.client.request('search', {query: term, conversation: ab})).results.map((r) => r.body)).toEqual([`${term} to b`])
    })

    it('pages with the cursor: every result exactly once, newest first', async () => {
      const a = await login(cluster, 0)
      const b = await login(cluster, 1)
      const c = await login(cluster, 1)
      const ab = (await a.client.request('conv.direct', {with: b.userId})).conversation
      const ac = (await a.client.request('conv.direct', {with: c.userId})).conversation
      const term = word()
      // Concurrent sends: several messages share a batch and so a created_at; seq and conversation break ties.
      await Promise.all([
        ...Array.from({length: 12}, (_, i) => send(b.client, ab, 'text', `${term} b${i}`)),
        ...Array.from({length: 11}, (_, i) => send(c.client, ac, 'text', `${term} c${i}`)),
        ...Array.from({length: 6}, (_, i) => send(a.client, i % 2 ? ab : ac, 'text', `${term} a${i}`)),
      ])
      await send(a.client, ab, 'text', 'unrelated')

      const all = await a.client.request('search', {query: term, limit: 50})
      expect(all.results).toHaveLength(29)
      expect(all.cursor).toBeUndefined()
      expect(all.results).toEqual([...all.results].sort(newestFirst))

      const pages: SearchResult[] = []
      let cursor: string | undefined
      do {
        const page = await a.client.request('search', {query: term, limit: 7, ...(cursor ? {cursor} : {})})
        pages.push(page)
        cursor = page.cursor
      } while (cursor)
      expect(pages.map((p) => p.results.length)).toEqual([7, 7, 7, 7, 1])
      const paged = pages.flatMap((p) => p.results)
      expect(paged.map(key)).toEqual(all.results.map(key))
      expect(new Set(paged.map(key)).size).toBe(29)

      // An exact multiple of the page size ends without a cursor, not with an empty page.
      const exact = await a.client.request('search', {query: term, limit: 29})
      expect(exact.results).toHaveLength(29)
      expect(exact.cursor).toBeUndefined()
      // Per conversation, the same.
      const first = await a.client.request('search', {query: term, conversation: ab, limit: 10})
      const second = await a.client.request('search', {query: term, conversation: ab, limit: 10, cursor: first.cursor})
      expect([...first.results, ...second.results].map(key)).toEqual(all.results.filter((r) => r.conversation === ab).map(key))
      expect(second.cursor).toBeUndefined()
    })

    it('understands quoted phrases, -exclusion and or', async () => {
      const {a, conversation} = await pair(cluster)
      const [red, apple, green] = [word(), word(), word()]
      await send(a, conversation, 'text', `${red} ${apple} pie`) // 1
      await send(a, conversation, 'text', `${apple} ${red} pie`) // 2
      await send(a, conversation, 'text', `${green} ${apple}`) // 3
      await send(a, conversation, 'text', `only ${green}`) // 4

      const seqs = async (query: string) => (await a.request('search', {query})).results.map((r) => r.seq)
      expect(await seqs(apple)).toEqual([3, 2, 1])
      expect(await seqs(`${red} ${apple}`)).toEqual([2, 1])
      expect(await seqs(`"${red} ${apple}"`)).toEqual([1])
      expect(await seqs(`${apple} -${red}`)).toEqual([3])
      expect(await seqs(`${red} or ${green}`)).toEqual([4, 3, 2, 1])
      expect(await seqs(`"${apple} ${red}" -pie`)).toEqual([])
    })

    it('never matches system messages or end-to-end-encrypted payloads', async () => {
      const owner = await login(cluster, 0)
      const member = await login(cluster, 1)
      const name = word()
      const {conversation: group} = await owner.client.request('group.create', {name: `${name} club`, members: [member.userId]})
      await owner.client.request('group.update', {conversation: group, name: `${name} society`})
      // Kind `encrypted` carries an envelope (docs/e2e.md); with no member device holding keys it addresses none.
      await send(owner.client, group, 'encrypted', {v: 1, devices: {}})
      const history = await member.client.request('sync', {conversation: group, after: 0})
      expect(history.messages.map((m) => m.kind)).toEqual(['system', 'system', 'encrypted'])

      expect((await member.client.request('search', {query: name})).results).toEqual([])
      expect((await owner.client.request('search', {query: name, conversation: group})).results).toEqual([])
      await send(owner.client, group, 'text', `the ${name} meets on friday`)
      expect((await member.client.request('search', {query: name})).results.map((r) => r.seq)).toEqual([4])
    })

    it('refuses empty, unsearchable and malformed requests with invalid_request', async () => {
      const {a, conversation} = await pair(cluster)
      await send(a, conversation, 'text', 'something')
      const bad: Array<Record<string, unknown>> = [
        {},
        {query: ''},
        {query: '   \t\n'},
        {query: '-something'},
        {query: '?!…'},
        {query: '""'},
        {query: 'x'.repeat(201)},
        {query: 5},
        {query: 'something', limit: 0},
        {query: 'something', limit: 51},
        {query: 'something', limit: 2.5},
        {query: 'something', conversation: 'not-a-uuid'},
        {query: 'something', cursor: 'not a cursor'},
        {query: 'something', cursor: 'eyJ4IjoxfQ'}, // base64url of {"x":1}
        {query: 'something', cursor: 'c'.repeat(201)},
      ]
      for (const args of bad) await expectCode(a.request('search', args), 'invalid_request', JSON.stringify(args))
      // Still usable afterwards.
      expect((await a.request('search', {query: 'something'})).results).toHaveLength(1)
    })
  })
})

async function login(cluster: TestCluster, gateway: number) {
  const pair = await cluster.login()
  return {userId: pair.userId, client: await cluster.connect(pair, gateway)}
}

let sent = 0
async function send(c: MsgrClient, conversation: string, kind: string, body: unknown): Promise<number> {
  const {seq} = await c.request('send', {conversation, clientMsgId: `s${++sent}`, kind, body})
  return seq
}

/** A word no other test uses (letters only, so the parser keeps it as one token). */
function word(): string {
  return Array.from({length: 10}, () => String.fromCharCode(97 + randomInt(26))).join('')
}

function key(hit: SearchHit): string {
  return `${hit.conversation}/${hit.seq}`
}

/** created_at, then conversation, then seq, all descending. */
function newestFirst(x: SearchHit, y: SearchHit): number {
  if (x.ts !== y.ts) return x.ts < y.ts ? 1 : -1
  if (x.conversation !== y.conversation) return x.conversation < y.conversation ? 1 : -1
  return y.seq - x.seq
}
