import type {Logger} from '../../core/logger.js'
import type {Clock, ConnectionRegistry, PresenceRecord, PresenceStore, Sql} from '../../core/ports.js'
import {assertMember, listMembers} from '../../core/store/conversations.js'
import {LIMITS, type PresenceStatus, type PresenceView} from '../../protocol/frames.js'
import type {FanoutPublisher} from '../fanout-publisher.js'
import type {Identity} from './connection.js'

// Presence and typing: ephemeral, never stored in a seq stream. Presence goes only to a user's contacts
// (direct-conversation peers), coalesced to one broadcast per user per window; the operator can switch
// the fan-out off entirely (it is the top CPU cost of chat servers at scale). Typing goes to the other
// members of small conversations and expires on the receiver.

export const PRESENCE_TIMING = {
  /** At most one presence broadcast per user per window; the last state wins. */
  coalesceMs: 2000,
  /** A user must stay disconnected this long before contacts see "offline" (absorbs reconnects). */
  offlineGraceMs: 5000,
  /** Repeated typing=true from one connection is forwarded at most this often. */
  typingRefreshMs: 3000,
  typingExpiresMs: 6000,
  /** Cached contact lists (presence): a new contact is heard from within this long. */
  contactsCacheMs: 10_000,
} as const

export type PresenceMode = 'contacts' | 'off'

export interface PresenceService {
  connected(userId: string): void
  disconnected(userId: string): void
  set(userId: string, status: PresenceStatus, custom?: string): Promise<{status: PresenceStatus; custom?: string}>
  get(viewer: string, users: readonly string[]): Promise<PresenceView[]>
  typing(who: Identity, connId: string, conversation: string, state: boolean): Promise<void>
  connectionClosed(connId: string): void
  stop(): void
}

export interface PresenceDeps {
  sql: Sql
  registry: ConnectionRegistry
  store: PresenceStore
  fanout: FanoutPublisher
  clock: Clock
  logger: Logger
  mode: PresenceMode
}

export function createPresenceService(deps: PresenceDeps): PresenceService {
  const {sql, registry, store, fanout, clock, logger} = deps
  const lastBroadcast = new Map<string, number>()
  const trailing = new Map<string, NodeJS.Timeout>()
  const offlineTimers = new Map<string, NodeJS.Timeout>()
  const contactsCache = new Map<string, {users: string[]; until: number}>()
  const typingSent = new Map<string, number>()

  async function online(user: string): Promise<boolean> {
    const routes = await registry.lookup([user])
    return [...routes.values()].some((list) => list.some((r) => r.userId === user))
  }

  function view(user: string, record: PresenceRecord | undefined, isOnline: boolean): PresenceView {
    // "offline" chosen while connected means invisible: contacts see offline with the last seen time.
    const status: PresenceStatus = isOnline && record?.status !== 'offline' ? (record?.status ?? 'online') : 'offline'
    const out: PresenceView = {user, status, lastSeen: status === 'offline' && record?.lastSeen ? new Date(record.lastSeen).toISOString() : null}
    if (record?.custom && status !== 'offline') out.custom = record.custom
    return out
  }

  async function contacts(user: string): Promise<string[]> {
    const cached = contactsCache.get(user)
    if (cached && cached.until > clock.now()) return cached.users
    const {rows} = await sql.query<{user_id: string}>(
      `SELECT DISTINCT o.user_id FROM members m
         JOIN conversations c ON c.id = m.conversation_id AND c.kind = 'direct'
         JOIN members o ON o.conversation_id = m.conversation_id AND o.user_id <> m.user_id
        WHERE m.user_id = $1
          AND NOT EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = m.user_id AND b.blocked_id = o.user_id)
                                                  OR (b.blocker_id = o.user_id AND b.blocked_id = m.user_id))
        LIMIT 5000`,
      [user],
    )
    const users = rows.map((r) => r.user_id)
    if (contactsCache.size > 10_000) contactsCache.clear()
    // An empty list is not cached: the user's first direct conversation must count at once.
    if (users.length > 0) contactsCache.set(user, {users, until: clock.now() + PRESENCE_TIMING.contactsCacheMs})
    return users
  }

  async function broadcastNow(user: string): Promise<void> {
    lastBroadcast.set(user, clock.now())
    const [record, isOnline, peers] = await Promise.all([store.get([user]).then((m) => m.get(user)), online(user), contacts(user)])
    if (peers.length === 0) return
    await fanout.publish([{recipients: peers, event: {ev: 'presence', ...view(user, record, isOnline)}}])
  }

  function broadcast(user: string): void {
    if (deps.mode === 'off' || trailing.has(user)) return
    const wait = (lastBroadcast.get(user) ?? 0) + PRESENCE_TIMING.coalesceMs - clock.now()
    const run = () => {
      trailing.delete(user)
      broadcastNow(user).catch((error) => logger.warn({err: error}, 'presence broadcast failed'))
    }
    if (wait <= 0) return run()
    trailing.set(user, setTimeout(run, wait).unref())
  }

  /** Those of `users` who have not blocked `user`. */
  async function notBlocking(users: string[], user: string): Promise<string[]> {
    if (users.length === 0) return users
    const {rows} = await sql.query<{blocker_id: string}>('SELECT blocker_id FROM blocks WHERE blocked_id = $1 AND blocker_id = ANY($2::uuid[])', [user, users])
    const blockers = new Set(rows.map((r) => r.blocker_id))
    return blockers.size === 0 ? users : users.filter((u) => !blockers.has(u))
  }

  return {
    connected(user) {
      clearTimeout(offlineTimers.get(user))
      offlineTimers.delete(user)
      broadcast(user)
    },
    disconnected(user) {
      if (offlineTimers.has(user)) return
      const timer = setTimeout(() => {
        offlineTimers.delete(user)
        void online(user)
          .then(async (still) => {
            if (still) return
            await store.set(user, {lastSeen: clock.now()})
            broadcast(user)
          })
          .catch((error) => logger.warn({err: error}, 'presence offline check failed'))
      }, PRESENCE_TIMING.offlineGraceMs).unref()
      offlineTimers.set(user, timer)
    },
    async set(user, status, custom) {
      await store.set(user, {status, custom})
      broadcast(user)
      return custom === undefined ? {status} : {status, custom}
    },
    async get(viewer, users) {
      // Only people the viewer shares a conversation with: presence is not a public directory.
      const {rows} = await sql.query<{user_id: string}>(
        `SELECT DISTINCT o.user_id FROM members m JOIN members o ON o.conversation_id = m.conversation_id
          WHERE m.user_id = $1 AND o.user_id = ANY($2::uuid[])
            AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = o.user_id AND b.blocked_id = m.user_id)`,
        [viewer, users],
      )
      const visible = rows.map((r) => r.user_id)
      const [records, routes] = await Promise.all([store.get(visible), registry.lookup(visible)])
      const connected = new Set([...routes.values()].flatMap((list) => list.map((r) => r.userId)))
      return visible.map((user) => view(user, records.get(user), connected.has(user)))
    },
    async typing(who, connId, conversation, state) {
      const key = `${connId}|${conversation}`
      const last = typingSent.get(key)
      if (state && last !== undefined && clock.now() - last < PRESENCE_TIMING.typingRefreshMs) return
      await assertMember(sql, conversation, who.userId)
      if (state) typingSent.set(key, clock.now())
      else typingSent.delete(key)
      // Fresh membership (a removed member must hear nothing), minus anyone who blocked the typist.
      const all = await listMembers(sql, conversation)
      if (all.length > LIMITS.receiptFanoutMembers) return // typing in a crowd is noise
      const others = await notBlocking(all.filter((u) => u !== who.userId), who.userId)
      await fanout.publish([
        {
          recipients: others,
          event: {ev: 'typing', conversation, user: who.userId, state, expiresInMs: PRESENCE_TIMING.typingExpiresMs},
        },
      ])
    },
    connectionClosed(connId) {
      for (const key of typingSent.keys()) if (key.startsWith(`${connId}|`)) typingSent.delete(key)
    },
    stop() {
      for (const timer of [...trailing.values(), ...offlineTimers.values()]) clearTimeout(timer)
      trailing.clear()
      offlineTimers.clear()
    },
  }
}
