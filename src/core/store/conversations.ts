import {MsgrError} from '../../errors.js'
import type {InboxEntry, MessageView} from '../../protocol/frames.js'
import {directConversationId} from '../ids.js'
import type {Sql} from '../ports.js'

// Read paths and membership writes used by gateways. The worker owns message writes (message-writer.ts).

export async function ensureDirectConversation(sql: Sql, me: string, other: string): Promise<{id: string; members: string[]}> {
  const id = directConversationId(me, other)
  const members = me === other ? [me] : [me, other]
  const existing = await sql.query<{user_id: string}>('SELECT user_id FROM members WHERE conversation_id = $1', [id])
  if (existing.rowCount >= members.length) return {id, members}
  const users = await sql.query<{id: string}>('SELECT id FROM users WHERE id = ANY($1::uuid[])', [members])
  if (users.rows.length < members.length) throw new MsgrError('not_found', 'no such user')
  await sql.transaction(async (tx) => {
    await tx.query(`INSERT INTO conversations (id, kind, created_by) VALUES ($1, 'direct', $2) ON CONFLICT (id) DO NOTHING`, [id, me])
    await tx.query(
      `INSERT INTO members (conversation_id, user_id) SELECT $1, u FROM unnest($2::uuid[]) AS u ON CONFLICT DO NOTHING`,
      [id, members],
    )
  })
  return {id, members}
}

export async function assertMember(sql: Sql, conversation: string, user: string): Promise<void> {
  const {rows} = await sql.query<{member: boolean}>(
    `SELECT EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2) AS member
       FROM conversations WHERE id = $1`,
    [conversation, user],
  )
  if (rows.length === 0) throw new MsgrError('not_found', 'no such conversation')
  if (!rows[0]!.member) throw new MsgrError('forbidden', 'not a member of this conversation')
}

export async function listMembers(sql: Sql, conversation: string): Promise<string[]> {
  const {rows} = await sql.query<{user_id: string}>('SELECT user_id FROM members WHERE conversation_id = $1', [conversation])
  return rows.map((r) => r.user_id)
}

export async function syncMessages(
  sql: Sql,
  user: string,
  conversation: string,
  after: number,
  limit: number,
): Promise<{messages: MessageView[]; hasMore: boolean}> {
  await assertMember(sql, conversation, user)
  const {rows} = await sql.query<MessageRow & {hidden: boolean}>(
    `SELECT m.conversation_id, m.seq, m.id, m.sender_id, m.sender_device, m.client_msg_id, m.kind, m.body, m.reply_to, m.created_at,
            m.meta, m.edited_at, m.deleted_at, m.version, h.seq IS NOT NULL AS hidden
       FROM messages m
       LEFT JOIN hidden_messages h ON h.user_id = $4 AND h.conversation_id = m.conversation_id
             AND h.seq = CASE WHEN m.kind = 'edit' THEN (m.body ->> 'target')::bigint ELSE m.seq END
      WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3`,
    [conversation, after, limit + 1, user],
  )
  const page = rows.slice(0, limit)
  const reactions = await reactionCounts(sql, conversation, page.filter((r) => !r.deleted_at && !r.hidden).map((r) => r.seq))
  const messages = page.map((row) => {
    const view = toMessageView(row)
    if (row.hidden) {
      // "Deleted for me": the seq stays (the order is gapless), the content goes.
      view.body = null
      view.hidden = true
    }
    const counts = reactions.get(row.seq)
    if (counts && !view.hidden) view.reactions = counts
    return view
  })
  return {messages, hasMore: rows.length > limit}
}

/** Aggregated reaction counts per message: {seq → {emoji → count}}. */
async function reactionCounts(sql: Sql, conversation: string, seqs: number[]): Promise<Map<number, Record<string, number>>> {
  const out = new Map<number, Record<string, number>>()
  if (seqs.length === 0) return out
  const {rows} = await sql.query<{seq: number; emoji: string; n: number}>(
    `SELECT seq, emoji, count(*)::int AS n FROM message_reactions WHERE conversation_id = $1 AND seq = ANY($2::bigint[]) GROUP BY seq, emoji`,
    [conversation, seqs],
  )
  for (const r of rows) out.set(r.seq, {...out.get(r.seq), [r.emoji]: r.n})
  return out
}

/**
 * Conversations that changed since `token`. Tokens are the snapshot xmin of the previous read: any
 * transaction still running then has an xid >= xmin, so its rows show up next time (never missed;
 * clients may see a row twice).
 *
 * One statement, one round trip: within a statement pg_current_snapshot() is the statement's own
 * snapshot, the one the rows are read with. The snapshot CTE is LEFT JOINed so an empty inbox still
 * returns a row carrying the token.
 */
export async function inbox(sql: Sql, user: string, token?: string): Promise<{conversations: InboxEntry[]; token: string}> {
  const since = token === undefined ? '0' : decodeInboxToken(token)
  const {rows} = await sql.query<InboxRow & {xmin: string}>(
    `WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin),
     changed AS (
       SELECT c.id, c.kind, c.title, c.last_seq, c.last_ts, m.read_seq, m.delivered_seq, m.muted, m.archived, 'member' AS status,
              (SELECT count(*) FROM members o WHERE o.conversation_id = c.id)::int AS member_count,
              -- Unread: messages people wrote (not reactions, edits or system entries), capped.
              (SELECT count(*) FROM (SELECT 1 FROM messages u
                 WHERE u.conversation_id = c.id AND u.seq > m.read_seq AND u.sender_id <> $1 AND u.deleted_at IS NULL
                   AND u.kind NOT IN ('system', 'reaction', 'edit', 'delete') LIMIT $3) x)::int AS unread,
              CASE WHEN c.kind = 'direct' THEN (SELECT array_agg(o.user_id::text) FROM members o WHERE o.conversation_id = c.id) END AS members
         -- One primary-key lookup per membership, whatever the statistics say (OFFSET 0 keeps the subquery
         -- from being flattened): with stale statistics (a young table, autovacuum behind or off) the
         -- planner hash-joined a full scan of conversations into every inbox (11 ms at 15k conversations).
         FROM members m CROSS JOIN LATERAL (
                SELECT c.id, c.kind, c.title, c.last_seq, c.last_ts, c.changed_xid FROM conversations c WHERE c.id = m.conversation_id OFFSET 0
              ) c
        WHERE m.user_id = $1 AND (c.changed_xid >= $2::xid8 OR m.changed_xid >= $2::xid8)
       UNION ALL
       SELECT c.id, c.kind, c.title, f.left_seq, NULL, f.left_seq, f.left_seq, false, false, f.reason, 0, 0, NULL
         FROM former_members f JOIN conversations c ON c.id = f.conversation_id
        WHERE f.user_id = $1 AND f.changed_xid >= $2::xid8
     )
     SELECT snap.xmin, changed.* FROM snap LEFT JOIN changed ON true
      ORDER BY changed.last_ts DESC NULLS LAST, changed.id`,
    [user, since, UNREAD_CAP],
  )
  return {
    token: encodeInboxToken(rows[0]!.xmin),
    // The empty inbox's single row is the snapshot alone (id NULL).
    conversations: rows.filter((r) => r.id !== null).map((r) => {
      const entry: InboxEntry = {
        conversation: r.id,
        kind: r.kind,
        status: r.status,
        lastSeq: r.last_seq,
        lastTs: r.last_ts ? r.last_ts.toISOString() : null,
        readSeq: r.read_seq,
        deliveredSeq: r.delivered_seq,
        unread: r.unread,
        muted: r.muted,
        archived: r.archived,
        memberCount: r.member_count,
      }
      if (r.kind === 'group') entry.name = r.title
      if (r.members) entry.members = r.members
      return entry
    }),
  }
}

/** Unread counts stop here (clients show "999+"): counting is a range scan per conversation. */
export const UNREAD_CAP = 999

export async function updateMemberSettings(
  sql: Sql,
  user: string,
  conversation: string,
  settings: {muted?: boolean; archived?: boolean},
): Promise<{muted: boolean; archived: boolean}> {
  const {rows} = await sql.query<{muted: boolean; archived: boolean}>(
    `UPDATE members SET muted = COALESCE($3, muted), archived = COALESCE($4, archived), changed_xid = pg_current_xact_id()
      WHERE conversation_id = $1 AND user_id = $2 RETURNING muted, archived`,
    [conversation, user, settings.muted ?? null, settings.archived ?? null],
  )
  if (!rows[0]) {
    await assertMember(sql, conversation, user)
    throw new MsgrError('forbidden', 'not a member of this conversation')
  }
  return rows[0]
}

/** Moves a member's delivered or read watermark forward (never back, never past the last seq). */
export async function applyReceipt(
  sql: Sql,
  user: string,
  conversation: string,
  type: 'delivered' | 'read',
  seq: number,
): Promise<{seq: number; changed: boolean}> {
  // Reading implies delivery, so a read watermark also lifts the delivered one.
  const {rows} = await sql.query<{before: number; after: number}>(
    `WITH cur AS (
       SELECT m.delivered_seq, m.read_seq, c.last_seq FROM members m JOIN conversations c ON c.id = m.conversation_id
        WHERE m.conversation_id = $1 AND m.user_id = $2 FOR UPDATE OF m
     ), upd AS (
       UPDATE members m SET
         read_seq = CASE WHEN $3 = 'read' THEN GREATEST(m.read_seq, LEAST($4::bigint, cur.last_seq)) ELSE m.read_seq END,
         delivered_seq = GREATEST(m.delivered_seq, LEAST($4::bigint, cur.last_seq)),
         changed_xid = pg_current_xact_id()
        FROM cur
       WHERE m.conversation_id = $1 AND m.user_id = $2
         AND (CASE WHEN $3 = 'read' THEN cur.read_seq ELSE cur.delivered_seq END) < LEAST($4::bigint, cur.last_seq)
       RETURNING CASE WHEN $3 = 'read' THEN m.read_seq ELSE m.delivered_seq END AS after
     )
     SELECT (CASE WHEN $3 = 'read' THEN cur.read_seq ELSE cur.delivered_seq END) AS before,
            COALESCE((SELECT after FROM upd), CASE WHEN $3 = 'read' THEN cur.read_seq ELSE cur.delivered_seq END) AS after
       FROM cur`,
    [conversation, user, type, seq],
  )
  const row = rows[0]
  if (!row) {
    await assertMember(sql, conversation, user) // says which: not_found or forbidden
    throw new MsgrError('forbidden', 'not a member of this conversation')
  }
  return {seq: row.after, changed: row.after > row.before}
}

export interface MessageRow {
  conversation_id: string
  seq: number
  id: string
  sender_id: string
  sender_device: string
  client_msg_id: string
  kind: string
  body: unknown
  reply_to: number | null
  created_at: Date
  meta?: Record<string, unknown> | null
  edited_at?: Date | null
  deleted_at?: Date | null
  version?: number
}

export function toMessageView(row: MessageRow): MessageView {
  const view: MessageView = {
    conversation: row.conversation_id,
    seq: row.seq,
    messageId: row.id,
    sender: row.sender_id,
    senderDevice: row.sender_device,
    ts: row.created_at.toISOString(),
    kind: row.kind,
    body: row.body,
    clientMsgId: row.client_msg_id,
  }
  if (row.reply_to !== null) view.replyTo = row.reply_to
  if (row.meta?.forwardedFrom) view.forwardedFrom = row.meta.forwardedFrom as MessageView['forwardedFrom']
  if (row.deleted_at) {
    view.deleted = true
    view.body = null
  } else if (row.edited_at) {
    view.edited = true
    view.editedAt = row.edited_at.toISOString()
    view.version = row.version ?? 1
  }
  return view
}

interface InboxRow {
  id: string
  kind: 'direct' | 'group'
  title: string | null
  last_seq: number
  last_ts: Date | null
  read_seq: number
  delivered_seq: number
  muted: boolean
  archived: boolean
  status: InboxEntry['status']
  member_count: number
  unread: number
  members: string[] | null
}

function encodeInboxToken(xmin: string): string {
  return Buffer.from(`x1:${xmin}`).toString('base64url')
}

function decodeInboxToken(token: string): string {
  const text = Buffer.from(token, 'base64url').toString()
  const match = /^x1:(\d{1,20})$/.exec(text)
  if (!match) throw new MsgrError('invalid_request', 'inbox token is not one this server issued')
  return match[1]!
}
