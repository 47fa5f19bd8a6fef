import {MsgrError} from '../../errors.js'
import type {GroupInfo, GroupRole} from '../../protocol/frames.js'
import type {Sql} from '../ports.js'
import {assertMember} from './conversations.js'

// Group read paths for gateways. Every change goes through the worker (group-rules.ts), never here.

export async function groupInfo(sql: Sql, user: string, conversation: string): Promise<GroupInfo> {
  await assertMember(sql, conversation, user)
  const [conv, members] = await Promise.all([
    sql.query<{kind: string; title: string | null; description: string | null; picture: string | null; last_seq: number}>(
      'SELECT kind, title, description, picture, last_seq FROM conversations WHERE id = $1',
      [conversation],
    ),
    sql.query<{user_id: string; role: GroupRole; joined_seq: number}>(
      'SELECT user_id, role, joined_seq FROM members WHERE conversation_id = $1 ORDER BY joined_seq, joined_at, user_id',
      [conversation],
    ),
  ])
  const row = conv.rows[0]!
  if (row.kind !== 'group') throw new MsgrError('invalid_request', 'not a group conversation')
  return {
    conversation,
    kind: 'group',
    name: row.title ?? '',
    description: row.description,
    picture: row.picture,
    lastSeq: row.last_seq,
    members: members.rows.map((m) => ({user: m.user_id, role: m.role, joinedSeq: m.joined_seq})),
  }
}

export async function listJoinRequests(sql: Sql, user: string, conversation: string): Promise<{requests: Array<{user: string; at: string}>}> {
  await assertRole(sql, user, conversation, ['owner', 'admin'])
  const {rows} = await sql.query<{user_id: string; at: Date}>('SELECT user_id, at FROM join_requests WHERE conversation_id = $1 ORDER BY at', [conversation])
  return {requests: rows.map((r) => ({user: r.user_id, at: r.at.toISOString()}))}
}

/** The group an invite code opens, or not_found. */
export async function resolveInvite(sql: Sql, code: string): Promise<string> {
  const {rows} = await sql.query<{conversation_id: string}>('SELECT conversation_id FROM group_invites WHERE code = $1 AND revoked_at IS NULL', [code])
  if (!rows[0]) throw new MsgrError('not_found', 'the invite link is invalid or was revoked')
  return rows[0].conversation_id
}

/** Members must be real users: the worker's insert would otherwise fail its whole batch on the foreign key. */
export async function assertUsersExist(sql: Sql, users: readonly string[]): Promise<void> {
  if (users.length === 0) return
  const unique = [...new Set(users)]
  const {rows} = await sql.query<{id: string}>('SELECT id FROM users WHERE id = ANY($1::uuid[])', [unique])
  if (rows.length === unique.length) return
  const found = new Set(rows.map((r) => r.id))
  throw new MsgrError('not_found', 'no such user', {users: unique.filter((u) => !found.has(u)).slice(0, 20)})
}

async function assertRole(sql: Sql, user: string, conversation: string, roles: GroupRole[]): Promise<void> {
  await assertMember(sql, conversation, user)
  const {rows} = await sql.query<{role: GroupRole}>('SELECT role FROM members WHERE conversation_id = $1 AND user_id = $2', [conversation, user])
  if (!rows[0] || !roles.includes(rows[0].role)) throw new MsgrError('forbidden', 'only admins and the owner may do this')
}
