import {MsgrError} from '../../errors.js'
import {CONTENT_KINDS} from '../message-rules.js'
import type {Sql} from '../ports.js'
import {assertMember} from './conversations.js'

// Per-user message reads and writes that are not part of any seq stream.

/** "Delete for me": the user's devices stop showing these seqs (sync returns them hidden). */
export async function hideMessages(sql: Sql, user: string, conversation: string, seqs: number[]): Promise<void> {
  await assertMember(sql, conversation, user)
  const {rows} = await sql.query<{last_seq: number}>('SELECT last_seq FROM conversations WHERE id = $1', [conversation])
  if (seqs.some((s) => s > (rows[0]?.last_seq ?? 0))) throw new MsgrError('not_found', 'no such message')
  await sql.query(
    `INSERT INTO hidden_messages (user_id, conversation_id, seq) SELECT $1, $2, s FROM unnest($3::bigint[]) AS s ON CONFLICT DO NOTHING`,
    [user, conversation, seqs],
  )
}

/** The message a member wants to forward: it must exist, be content and not be deleted. */
export async function readForForward(sql: Sql, user: string, conversation: string, seq: number): Promise<{kind: string; body: unknown; sender: string}> {
  await assertMember(sql, conversation, user)
  const {rows} = await sql.query<{kind: string; body: unknown; sender_id: string; deleted: boolean}>(
    'SELECT kind, body, sender_id, deleted_at IS NOT NULL AS deleted FROM messages WHERE conversation_id = $1 AND seq = $2',
    [conversation, seq],
  )
  const row = rows[0]
  if (!row || row.deleted) throw new MsgrError('not_found', 'no such message')
  if (!CONTENT_KINDS.has(row.kind)) throw new MsgrError('invalid_request', `a ${row.kind} entry cannot be forwarded`)
  return {kind: row.kind, body: row.body, sender: row.sender_id}
}

export async function listBlocks(sql: Sql, user: string): Promise<{users: string[]}> {
  const {rows} = await sql.query<{blocked_id: string}>('SELECT blocked_id FROM blocks WHERE blocker_id = $1 ORDER BY at', [user])
  return {users: rows.map((r) => r.blocked_id)}
}

/** Whether `blocker` has blocked `blocked`. */
export async function isBlocked(sql: Sql, blocker: string, blocked: string): Promise<boolean> {
  const {rows} = await sql.query('SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2', [blocker, blocked])
  return rows.length > 0
}

/** Every version of a message, oldest first; the last is the current body. */
export async function messageVersions(sql: Sql, user: string, conversation: string, seq: number): Promise<{versions: Array<{version: number; body: unknown; ts: string}>}> {
  await assertMember(sql, conversation, user)
  const {rows} = await sql.query<{version: number; body: unknown; ts: Date}>(
    `SELECT version, body, edited_at AS ts FROM message_versions WHERE conversation_id = $1 AND seq = $2
     UNION ALL
     SELECT version, body, coalesce(edited_at, created_at) FROM messages WHERE conversation_id = $1 AND seq = $2 AND deleted_at IS NULL
     ORDER BY 1`,
    [conversation, seq],
  )
  if (rows.length === 0) throw new MsgrError('not_found', 'no such message')
  return {versions: rows.map((r) => ({version: r.version, body: r.body, ts: r.ts.toISOString()}))}
}
