import {randomUUID} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket from 'ws'

import {type MsgrClient, RequestError} from '../../src/client/client.js'
import {createAccessTokens} from '../../src/core/auth/tokens.js'
import type {ErrorCode} from '../../src/errors.js'
import {OP_NAMES, type OpName} from '../../src/protocol/frames.js'
import {availableLegs, LEGS, sleep, startCluster, type TestCluster, type TestUser, waitFor} from '../helpers/cluster.js'
import {isMessage} from '../helpers/protocol.js'

// Authorization matrix: every op of the protocol (requestSchemas' keys: a new op without an entry here
// fails the first test) tried by a non-member, a removed member and a banned user of a group, each of
// which must be refused and change nothing; then the actors that cannot even hold a session: an expired
// token (upgrade 401; an open socket closed with 4401 when its token expires), a token naming another
// device (revoked device, or a session of another device), and a refresh token reused after rotation
// (refused, and its whole family revoked).

const available = await availableLegs()
const JWT_SECRET = 'authz-matrix-secret-authz-matrix-secret!'

type Actor = 'nonMember' | 'removed' | 'banned'
const ACTORS: Actor[] = ['nonMember', 'removed', 'banned']

/** What the matrix knows about the victim group when it builds each op's arguments. */
interface Scene {
  group: string
  /** Seq of a message in the group. */
  seq: number
  /** The owner's live invite code. */
  code: string
  owner: string
  /** The owner's device (ops that name a device). */
  ownerDevice: string
  member: string
  banned: string
  /** A user who is in no conversation of the scene. */
  stranger: string
  /** A direct conversation of the acting user (forward's target). */
  own: string
}

type Entry =
  /** Refused: the args it is tried with, and the codes that count as a refusal (default: forbidden). */
  | {args: (s: Scene) => Record<string, unknown>; refused?: ErrorCode[]; actors?: Actor[]; why?: string}
  | {na: string}

const g = (s: Scene) => ({conversation: s.group})

const MATRIX: Record<OpName, Entry> = {
  ping: {na: 'touches no conversation'},
  'conv.direct': {na: 'anyone may open a direct conversation with anyone; blocks are the refusal (rich-messaging tests)'},
  inbox: {na: 'lists the caller’s own conversations only'},
  'group.create': {na: 'creates a new group owned by the caller'},
  'presence.set': {na: 'sets the caller’s own presence'},
  'presence.get': {na: 'user-scoped, not conversation-scoped (presence tests cover who sees what)'},
  'user.block': {na: 'user-scoped: anyone may block anyone'},
  'user.unblock': {na: 'user-scoped: the caller’s own block list'},
  'user.blocks': {na: 'the caller’s own block list'},
  'device.list': {na: 'the caller’s own devices'},
  'push.register': {na: 'the calling device’s own push registration'},
  'push.unregister': {na: 'the calling device’s own push registration'},
  'notify.prefs': {na: 'the calling device’s own preferences'},
  // Naming another user's device: refused (no device of the caller has that id).
  'device.rename': {args: (s) => ({device: s.ownerDevice, name: 'hijacked'}), refused: ['forbidden', 'not_found']},
  'device.logout': {args: (s) => ({device: s.ownerDevice}), refused: ['forbidden', 'not_found']},
  'push.history': {args: (s) => ({device: s.ownerDevice}), refused: ['forbidden', 'not_found']},
  'keys.upload': {na: 'the caller’s own device keys'},
  'keys.count': {na: 'the caller’s own prekey count'},
  'keys.devices': {na: 'public key directory: anyone may start an E2E session with any user (as in Signal)'},
  'keys.bundle': {na: 'public key directory: anyone may start an E2E session with any user (as in Signal)'},
  send: {args: (s) => ({...g(s), clientMsgId: `authz-${randomUUID()}`, kind: 'text', body: 'intruder'})},
  sync: {args: g},
  search: {args: (s) => ({...g(s), query: 'secret'})},
  receipt: {args: (s) => ({...g(s), type: 'read', seq: s.seq})},
  'conv.settings': {args: (s) => ({...g(s), muted: true})},
  'group.info': {args: g},
  'group.update': {args: (s) => ({...g(s), name: 'taken over'})},
  'group.add': {args: (s) => ({...g(s), members: [s.stranger]})},
  'group.remove': {args: (s) => ({...g(s), members: [s.member]})},
  'group.leave': {args: g},
  'group.delete': {args: g},
  'group.promote': {args: (s) => ({...g(s), member: s.member})},
  'group.demote': {args: (s) => ({...g(s), member: s.owner})},
  'group.ban': {args: (s) => ({...g(s), member: s.member})},
  'group.unban': {args: (s) => ({...g(s), member: s.banned})},
  'group.invite.create': {args: g},
  'group.invite.revoke': {args: (s) => ({...g(s), code: s.code})},
  // With a valid invite link joining is the point, except for a banned user.
  'group.join': {args: (s) => ({code: s.code}), actors: ['banned']},
  'group.requests': {args: g},
  'group.approve': {args: (s) => ({...g(s), member: s.stranger})},
  'group.deny': {args: (s) => ({...g(s), member: s.stranger})},
  react: {args: (s) => ({...g(s), seq: s.seq, emoji: '👎'})},
  edit: {args: (s) => ({...g(s), seq: s.seq, body: 'rewritten'})},
  versions: {args: (s) => ({...g(s), seq: s.seq})},
  delete: {args: (s) => ({...g(s), seq: s.seq, scope: 'everyone'})},
  forward: {args: (s) => ({conversation: s.own, clientMsgId: `fw-${randomUUID()}`, from: {conversation: s.group, seq: s.seq}})},
  typing: {args: (s) => ({...g(s), state: true})},
}

describe('authorization matrix', () => {
  it('has an entry for every op of the protocol', () => {
    expect(Object.keys(MATRIX).sort()).toEqual([...OP_NAMES].sort())
    for (const [op, entry] of Object.entries(MATRIX)) if ('na' in entry) expect(entry.na.length, op).toBeGreaterThan(10)
  })
})

describe.each(LEGS)('authorization on %s adapters', (leg) => {
  describe.runIf(available[leg])('', () => {
    let cluster: TestCluster
    const tokens = createAccessTokens({secret: JWT_SECRET, ttlSec: 3})

    beforeAll(async () => {
      cluster = await startCluster(leg, {gateways: 2, workers: 1, config: {jwtSecret: JWT_SECRET}})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    it('refuses every op to a non-member, a removed member and a banned user, and changes nothing', async () => {
      const users = await Promise.all(['owner', 'member', 'nonMember', 'removed', 'banned', 'stranger'].map(() => cluster.login()))
      const [ownerPair, memberPair, nonPair, removedPair, bannedPair, strangerPair] = users as [TestUser, TestUser, TestUser, TestUser, TestUser, TestUser]
      const owner = await cluster.connect(ownerPair, 0)
      const member = await cluster.connect(memberPair, 1)
      const created = await owner.request('group.create', {name: 'vault', members: [memberPair.userId, removedPair.userId, bannedPair.userId]})
      const group = created.conversation
      const {seq} = await owner.request('send', {conversation: group, clientMsgId: 'secret-1', kind: 'text', body: 'the secret plan'})
      await owner.request('group.remove', {conversation: group, members: [removedPair.userId]})
      await owner.request('group.ban', {conversation: group, member: bannedPair.userId})
      const {code} = await owner.request('group.invite.create', {conversation: group})
      const before = await owner.request('group.info', {conversation: group})
      const historyBefore = await owner.request('sync', {conversation: group, limit: 500})

      const clients: Record<Actor, MsgrClient> = {
        nonMember: await cluster.connect(nonPair, 0),
        removed: await cluster.connect(removedPair, 1),
        banned: await cluster.connect(bannedPair, 0),
      }
      const refusals: string[] = []
      for (const actor of ACTORS) {
        const c = clients[actor]
        const {conversation: own} = await c.request('conv.direct', {with: strangerPair.userId})
        const scene: Scene = {group, seq, code: code!, owner: ownerPair.userId, ownerDevice: ownerPair.deviceId, member: memberPair.userId, banned: bannedPair.userId, stranger: strangerPair.userId, own}
        for (const op of OP_NAMES) {
          const entry = MATRIX[op]
          if ('na' in entry || (entry.actors && !entry.actors.includes(actor))) continue
          const outcome = await c.request(op, entry.args(scene) as never).then(
            (result) => ({ok: true as const, result}),
            (error: RequestError) => ({ok: false as const, code: error.error.code}),
          )
          expect(outcome, `${op} by ${actor}`).toEqual({ok: false, code: expect.toBeOneOf(entry.refused ?? ['forbidden'])})
          refusals.push(`${actor}:${op}`)
        }
      }
      expect(refusals.length).toBeGreaterThan(3 * 25)

      // Nothing changed: same members and roles, same name, same history, no new message.
      const after = await owner.request('group.info', {conversation: group})
      expect(after).toEqual(before)
      expect(await owner.request('sync', {conversation: group, limit: 500})).toEqual(historyBefore)
      // A later message reaches the member, never the three outsiders.
      const {seq: later} = await member.request('send', {conversation: group, clientMsgId: 'after', kind: 'text', body: 'members only'})
      await owner.waitForEvent(isMessage(group, later))
      await sleep(300)
      for (const actor of ACTORS) expect(clients[actor].events.filter(isMessage(group, later)), actor).toEqual([])
    })

    it('refuses an expired access token: HTTP 401 at the upgrade and on authenticated HTTP routes', async () => {
      const claims = await tokens.verify((await cluster.login()).accessToken)
      const expired = await createAccessTokens({secret: JWT_SECRET, ttlSec: 60, clock: {now: () => Date.now() - 3_600_000}}).sign(claims)
      const refused = await upgrade(cluster.gateways[0]!.url, expired)
      expect(refused.status).toBe(401)
      expect(refused.body).toMatchObject({error: {code: 'unauthenticated', message: expect.stringContaining('expired')}})
      const media = await fetch(`${cluster.gateways[0]!.url}/v1/media`, {method: 'POST', headers: {authorization: `Bearer ${expired}`, 'content-type': 'image/png'}, body: Buffer.from([1, 2, 3])})
      expect(media.status).toBe(401)
      expect(await media.json()).toMatchObject({error: {code: 'unauthenticated'}})
    })

    it('closes an open socket with 4401 when its access token expires, and a refreshed token connects again', async () => {
      const pair = await cluster.login()
      const shortLived = await tokens.sign(await tokens.verify(pair.accessToken))
      const c = await cluster.connect({...pair, accessToken: shortLived})
      expect(await c.request('ping')).toEqual({})
      await waitFor(() => c.closeCode !== undefined, 10_000, 50)
      expect(c.closeCode).toBe(4401)
      const fresh = await refresh(cluster.gateways[0]!.url, pair.refreshToken)
      expect(fresh.status).toBe(200)
      const again = await cluster.connect({...pair, ...(fresh.body as {accessToken: string})})
      expect(await again.request('ping')).toEqual({})
    })

    it('refuses a token that names another device: another device’s session, a logged-out or revoked device', async () => {
      const first = await cluster.login()
      const second = await cluster.login(first.phone, 'second-device')
      expect(second.userId).toBe(first.userId)
      const firstSession = (await tokens.verify(first.accessToken)).sessionId
      // Control: a token re-signed from honest claims is accepted, so the refusals below are about the claims.
      expect((await upgrade(cluster.gateways[0]!.url, await tokens.sign(await tokens.verify(first.accessToken)), true)).status).toBe(101)
      // The session of the first device, presented as the second device (signed with the real secret).
      const crossed = await tokens.sign({userId: first.userId, deviceId: second.deviceId, sessionId: firstSession})
      expect(await upgrade(cluster.gateways[0]!.url, crossed)).toMatchObject({status: 401, body: {error: {code: 'unauthenticated'}}})
      // Another user's session under this user's id.
      const other = await cluster.login()
      const foreign = await tokens.sign({userId: first.userId, deviceId: first.deviceId, sessionId: (await tokens.verify(other.accessToken)).sessionId})
      expect(await upgrade(cluster.gateways[1]!.url, foreign)).toMatchObject({status: 401, body: {error: {code: 'unauthenticated'}}})
      // The honest tokens work until the second device is logged out by the first: then its open socket
      // is closed with 4401, and its access and refresh tokens are refused.
      const secondSocket = await cluster.connect(second, 1)
      const firstSocket = await cluster.connect(first, 0)
      await firstSocket.request('device.logout', {device: second.deviceId})
      await waitFor(() => secondSocket.closeCode !== undefined, 10_000, 50)
      expect(secondSocket.closeCode).toBe(4401)
      expect(await upgrade(cluster.gateways[0]!.url, second.accessToken)).toMatchObject({status: 401, body: {error: {code: 'unauthenticated'}}})
      expect(await refresh(cluster.gateways[1]!.url, second.refreshToken)).toMatchObject({status: 401, body: {error: {code: 'invalid_refresh_token'}}})
      // A device revoked in the database (an operator's action) is refused the same way.
      const third = await cluster.login(first.phone, 'third-device')
      await cluster.adaptersOf(cluster.gateways[0]!).sql.query('UPDATE devices SET revoked_at = now() WHERE id = $1', [third.deviceId])
      expect(await upgrade(cluster.gateways[1]!.url, third.accessToken)).toMatchObject({status: 401, body: {error: {code: 'unauthenticated'}}})
      expect(await refresh(cluster.gateways[0]!.url, third.refreshToken)).toMatchObject({status: 401, body: {error: {code: 'invalid_refresh_token'}}})
      expect(await firstSocket.request('ping')).toEqual({})
    })

    it('refuses a refresh token reused after rotation and revokes its whole family', async () => {
      const pair = await cluster.login()
      const rotated = await refresh(cluster.gateways[0]!.url, pair.refreshToken)
      expect(rotated.status).toBe(200)
      const next = rotated.body as {accessToken: string; refreshToken: string}
      expect((await upgrade(cluster.gateways[0]!.url, next.accessToken, true)).status).toBe(101)
      // The old token again (a thief's copy): refused, and the session is revoked.
      expect(await refresh(cluster.gateways[1]!.url, pair.refreshToken)).toMatchObject({status: 401, body: {error: {code: 'invalid_refresh_token', message: expect.stringContaining('already used')}}})
      expect(await refresh(cluster.gateways[0]!.url, next.refreshToken)).toMatchObject({status: 401, body: {error: {code: 'invalid_refresh_token'}}})
      expect(await upgrade(cluster.gateways[0]!.url, next.accessToken)).toMatchObject({status: 401, body: {error: {code: 'unauthenticated'}}})
      expect(await upgrade(cluster.gateways[1]!.url, pair.accessToken)).toMatchObject({status: 401, body: {error: {code: 'unauthenticated'}}})
    })
  })
})

describe('access token lifetime from config', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startCluster('embedded', {config: {accessTtlSec: 2}})
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  it('closes a socket with 4401 when the token of a --access-ttl of 2 s expires', async () => {
    const pair = await cluster.login()
    const c = await cluster.connect(pair)
    const reason = new Promise<string>((resolve) => c.once('close', (_code, why) => resolve(why)))
    await waitFor(() => c.closeCode !== undefined, 10_000, 50)
    expect(c.closeCode).toBe(4401)
    expect(await reason).toMatch(/expired/)
  })
})

/** A raw upgrade: the status, and the JSON body of a refusal (closes the socket when it opens). */
async function upgrade(base: string, token: string, closeWhenOpen = false): Promise<{status: number; body?: unknown}> {
  const ws = new WebSocket(new URL('/v1/ws', base.replace(/^http/, 'ws')), 'msgr.v1+json', {headers: {authorization: `Bearer ${token}`}})
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      if (closeWhenOpen) ws.close()
      else ws.terminate()
      resolve({status: 101})
    })
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: JSON.parse(text)}))
    })
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error)
    })
  })
}

async function refresh(base: string, refreshToken: string): Promise<{status: number; body: unknown}> {
  const res = await fetch(`${base}/v1/auth/refresh`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({refreshToken})})
  return {status: res.status, body: await res.json()}
}
