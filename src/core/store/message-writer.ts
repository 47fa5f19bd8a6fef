import {sendKey} from '../envelope.js'
import type {GroupEffect} from '../group-rules.js'
import type {TargetInfo} from '../message-rules.js'
import type {Sql, SqlTx} from '../ports.js'
import type {GroupRole} from '../../protocol/frames.js'
import type {BatchPlan, ConversationState, PlannedEffect} from '../sequencer.js'
import type {MessageRow} from './conversations.js'

// The worker's SQL: per batch, one statement that does the compare-and-set UPDATE, the senders' watermarks
// and the multi-row INSERT (msgr_store_batch), inside one transaction with the group commands' effects
// when the batch has any.

/** Another owner advanced a conversation since we loaded it (lease lost or handed over): reload and retry. */
export class FencingConflict extends Error {
  constructor(readonly conversations: string[]) {
    super(`last_seq moved under us for ${conversations.length} conversation(s)`)
    this.name = 'FencingConflict'
  }
}

/** Some messages of the batch were already stored (client retry, redelivery): look them up and plan again. */
export class AlreadyStored extends Error {
  constructor(readonly keys: Array<{conv: string; sender: string; clientMsgId: string}>) {
    super(`${keys.length} message(s) of the batch were already stored`)
    this.name = 'AlreadyStored'
  }
}

export async function loadConversationStates(sql: Sql, ids: readonly string[]): Promise<Map<string, ConversationState>> {
  const states = new Map<string, ConversationState>()
  if (ids.length === 0) return states
  const [convs, members] = await Promise.all([
    sql.query<{id: string; kind: 'direct' | 'group'; last_seq: number; title: string | null; description: string | null; picture: string | null; deleted: boolean}>(
      `SELECT id, kind, last_seq, title, description, picture, deleted_at IS NOT NULL AS deleted FROM conversations WHERE id = ANY($1::uuid[])`,
      [ids],
    ),
    sql.query<{conversation_id: string; user_id: string; role: GroupRole}>(
      // Oldest first (ties by id, as the rules order them): ownership passes to the longest-serving admin or member.
      'SELECT conversation_id, user_id, role FROM members WHERE conversation_id = ANY($1::uuid[]) ORDER BY conversation_id, joined_seq, user_id',
      [ids],
    ),
  ])
  const byConv = groupRows(members.rows, (m) => m.conversation_id)
  const groups = convs.rows.filter((c) => c.kind === 'group').map((c) => c.id)
  const [bans, invites, requests] =
    groups.length === 0
      ? [[], [], []]
      : await Promise.all([
          sql.query<{conversation_id: string; user_id: string}>('SELECT conversation_id, user_id FROM group_bans WHERE conversation_id = ANY($1::uuid[])', [groups]).then((r) => r.rows),
          sql
            .query<{conversation_id: string; code: string; approval: boolean}>(
              'SELECT conversation_id, code, approval FROM group_invites WHERE conversation_id = ANY($1::uuid[]) AND revoked_at IS NULL',
              [groups],
            )
            .then((r) => r.rows),
          sql.query<{conversation_id: string; user_id: string}>('SELECT conversation_id, user_id FROM join_requests WHERE conversation_id = ANY($1::uuid[])', [groups]).then((r) => r.rows),
        ])
  const directs = convs.rows.filter((c) => c.kind === 'direct').map((c) => c.id)
  const blocks =
    directs.length === 0
      ? []
      : await sql
          .query<{conversation_id: string; blocked_id: string}>(
            `SELECT a.conversation_id, b.blocked_id FROM members a
               JOIN members o ON o.conversation_id = a.conversation_id AND o.user_id <> a.user_id
               JOIN blocks b ON b.blocker_id = a.user_id AND b.blocked_id = o.user_id
              WHERE a.conversation_id = ANY($1::uuid[])`,
            [directs],
          )
          .then((r) => r.rows)
  const blocksBy = groupRows(blocks, (b) => b.conversation_id)
  const bansBy = groupRows(bans, (b) => b.conversation_id)
  const invitesBy = groupRows(invites, (i) => i.conversation_id)
  const requestsBy = groupRows(requests, (r) => r.conversation_id)
  for (const c of convs.rows) {
    const state: ConversationState = {
      id: c.id,
      kind: c.kind,
      lastSeq: c.last_seq,
      members: new Map((byConv.get(c.id) ?? []).map((m) => [m.user_id, m.role])),
    }
    const blocked = blocksBy.get(c.id)
    if (blocked) state.blocked = new Set(blocked.map((b) => b.blocked_id))
    if (c.kind === 'group') {
      state.group = {
        name: c.title ?? '',
        description: c.description,
        picture: c.picture,
        deleted: c.deleted,
        bans: new Set((bansBy.get(c.id) ?? []).map((b) => b.user_id)),
        invites: new Map((invitesBy.get(c.id) ?? []).map((i) => [i.code, {approval: i.approval}])),
        requests: new Set((requestsBy.get(c.id) ?? []).map((r) => r.user_id)),
      }
    }
    states.set(c.id, state)
  }
  return states
}

/** What reactions, edits and deletes need to know about the messages they target. */
export async function loadTargets(sql: Sql, keys: ReadonlyArray<{conv: string; seq: number}>): Promise<Map<string, TargetInfo>> {
  const out = new Map<string, TargetInfo>()
  if (keys.length === 0) return out
  const {rows} = await sql.query<{conversation_id: string; seq: number; sender_id: string; kind: string; deleted: boolean; version: number}>(
    `SELECT m.conversation_id, m.seq, m.sender_id, m.kind, m.deleted_at IS NOT NULL AS deleted, m.version
       FROM unnest($1::uuid[], $2::bigint[]) AS k(c, s)
       CROSS JOIN LATERAL (SELECT * FROM messages WHERE conversation_id = k.c AND seq = k.s) AS m`,
    [keys.map((k) => k.conv), keys.map((k) => k.seq)],
  )
  for (const r of rows) out.set(`${r.conversation_id}|${r.seq}`, {sender: r.sender_id, kind: r.kind, deleted: r.deleted, version: r.version})
  return out
}

/** Stored messages for these (conversation, sender, clientMsgId) keys: the idempotency check. */
export async function findExisting(
  sql: Sql,
  keys: ReadonlyArray<{conv: string; sender: string; clientMsgId: string}>,
): Promise<Map<string, MessageRow>> {
  const found = new Map<string, MessageRow>()
  if (keys.length === 0) return found
  // LATERAL keeps this a nested loop of unique-index probes, each pruned to one partition at run time;
  // a plain join would hash-join against every partition, growing with the table.
  const {rows} = await sql.query<MessageRow>(
    `SELECT m.conversation_id, m.seq, m.id, m.sender_id, m.sender_device, m.client_msg_id, m.kind, m.body, m.reply_to, m.created_at
       FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS k(c, s, cm)
       CROSS JOIN LATERAL (
         SELECT * FROM messages WHERE conversation_id = k.c AND sender_id = k.s AND client_msg_id = k.cm
       ) AS m`,
    [keys.map((k) => k.conv), keys.map((k) => k.sender), keys.map((k) => k.clientMsgId)],
  )
  for (const row of rows) found.set(sendKey(row.conversation_id, row.sender_id, row.client_msg_id), row)
  return found
}

export async function commitBatch(sql: Sql, plan: BatchPlan): Promise<void> {
  if (plan.inserts.length === 0 && plan.effects.length === 0) return
  // Messages only (the usual batch): one statement, atomic on its own, one round trip.
  if (plan.effects.length === 0) return writeMessages(sql, plan)
  await sql.transaction(async (tx) => {
    await applyEffects(tx, plan.effects)
    if (plan.inserts.length > 0) await writeMessages(tx, plan)
  })
}

/** SQLSTATEs msgr_store_batch raises with (migration 8); DETAIL carries the conversations or keys as JSON. */
const STALE_BATCH = 'MS409'
const ALREADY_STORED = 'MS208'

/**
 * The batch's messages in one statement, msgr_store_batch (migration 8), whose plan the database keeps per
 * session; it writes nothing unless all of it goes in:
 * - compare-and-set of last_seq: a batch planned on a stale last_seq (another owner wrote meanwhile) is
 *   refused, and the worker reloads the conversation and plans again;
 * - sending implies having read up to there: the sender's own messages never count as unread;
 * - optimistic idempotency: no lookup up front. If a key is already stored, the batch is refused and
 *   planned again knowing it (seqs must stay gapless).
 */
async function writeMessages(sql: Pick<Sql, 'query'>, plan: BatchPlan): Promise<void> {
  const rows = plan.inserts
  const own = new Map<string, {conv: string; user: string; seq: number}>()
  for (const r of rows) own.set(`${r.conversation_id}|${r.sender_id}`, {conv: r.conversation_id, user: r.sender_id, seq: r.seq})
  const owners = [...own.values()]
  try {
    await sql.query(
      `SELECT msgr_store_batch($1::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::uuid[], $6::uuid[], $7::bigint[],
              $8::uuid[], $9::bigint[], $10::uuid[], $11::uuid[], $12::uuid[], $13::text[], $14::text[], $15::jsonb[], $16::bigint[],
              $17::timestamptz[], $18::jsonb[], $19::integer)`,
      [
        plan.advances.map((a) => a.conversation),
        plan.advances.map((a) => a.from),
        plan.advances.map((a) => a.to),
        plan.advances.map((a) => a.ts),
        owners.map((o) => o.conv),
        owners.map((o) => o.user),
        owners.map((o) => o.seq),
        rows.map((r) => r.conversation_id),
        rows.map((r) => r.seq),
        rows.map((r) => r.id),
        rows.map((r) => r.sender_id),
        rows.map((r) => r.sender_device),
        rows.map((r) => r.client_msg_id),
        rows.map((r) => r.kind),
        rows.map((r) => JSON.stringify(r.body)),
        rows.map((r) => r.reply_to),
        rows.map((r) => r.created_at),
        rows.map((r) => (r.meta ? JSON.stringify(r.meta) : null)),
        plan.advances.length,
      ],
    )
  } catch (error) {
    const {code, detail} = error as {code?: string; detail?: string}
    // Whatever did not move was advanced by someone else (even to the same seq).
    if (code === STALE_BATCH) throw new FencingConflict(JSON.parse(detail ?? '[]') as string[])
    if (code === ALREADY_STORED) {
      const keys = JSON.parse(detail ?? '[]') as Array<[string, string, string]>
      throw new AlreadyStored(keys.map(([conv, sender, clientMsgId]) => ({conv, sender, clientMsgId})))
    }
    throw error
  }
}

/** Group command effects, in plan order; runs of member changes go in one statement each. */
async function applyEffects(tx: SqlTx, effects: readonly PlannedEffect[]): Promise<void> {
  for (let i = 0; i < effects.length; ) {
    const {conversation: conv, seq, effect} = effects[i]!
    if (effect.t === 'member.upsert' || effect.t === 'member.delete') {
      let j = i
      while (j < effects.length && effects[j]!.effect.t === effect.t && effects[j]!.conversation === conv && effects[j]!.seq === seq) j++
      const run = effects.slice(i, j)
      if (effect.t === 'member.upsert') await upsertMembers(tx, conv, seq, run.map((e) => e.effect as Extract<GroupEffect, {t: 'member.upsert'}>))
      else await deleteMembers(tx, conv, seq ?? 0, run.map((e) => e.effect as Extract<GroupEffect, {t: 'member.delete'}>))
      i = j
      continue
    }
    i++
    switch (effect.t) {
      case 'conversation.create':
        await tx.query(
          `INSERT INTO conversations (id, kind, title, description, picture, created_by) VALUES ($1, 'group', $2, $3, $4, $5)`,
          [conv, effect.name, effect.description, effect.picture, effect.createdBy],
        )
        break
      case 'conversation.update':
        await tx.query(
          `UPDATE conversations SET title = COALESCE($2, title), description = COALESCE($3, description), picture = COALESCE($4, picture),
                  changed_xid = pg_current_xact_id() WHERE id = $1`,
          [conv, effect.name ?? null, effect.description ?? null, effect.picture ?? null],
        )
        break
      case 'conversation.delete':
        await tx.query(`UPDATE conversations SET deleted_at = now(), changed_xid = pg_current_xact_id() WHERE id = $1`, [conv])
        await tx.query(`UPDATE group_invites SET revoked_at = now() WHERE conversation_id = $1 AND revoked_at IS NULL`, [conv])
        await tx.query(`DELETE FROM join_requests WHERE conversation_id = $1`, [conv])
        break
      case 'ban.add':
        await tx.query(`INSERT INTO group_bans (conversation_id, user_id, banned_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [conv, effect.user, effect.by])
        break
      case 'ban.remove':
        await tx.query(`DELETE FROM group_bans WHERE conversation_id = $1 AND user_id = $2`, [conv, effect.user])
        break
      case 'invite.add':
        await tx.query(
          `INSERT INTO group_invites (code, conversation_id, created_by, approval) VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING`,
          [effect.code, conv, effect.by, effect.approval],
        )
        break
      case 'invite.revoke':
        await tx.query(`UPDATE group_invites SET revoked_at = now() WHERE code = $1 AND conversation_id = $2 AND revoked_at IS NULL`, [effect.code, conv])
        break
      case 'request.add':
        await tx.query(`INSERT INTO join_requests (conversation_id, user_id, invite_code) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [conv, effect.user, effect.code])
        break
      case 'request.remove':
        await tx.query(`DELETE FROM join_requests WHERE conversation_id = $1 AND user_id = $2`, [conv, effect.user])
        break
      case 'reaction.add':
        await tx.query(
          `INSERT INTO message_reactions (conversation_id, seq, user_id, emoji) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
          [conv, effect.target, effect.user, effect.emoji],
        )
        break
      case 'reaction.remove':
        await tx.query(`DELETE FROM message_reactions WHERE conversation_id = $1 AND seq = $2 AND user_id = $3 AND emoji = $4`, [
          conv,
          effect.target,
          effect.user,
          effect.emoji,
        ])
        break
      case 'message.edit':
        // The history keeps every version's body; the row holds the current one.
        await tx.query(
          `INSERT INTO message_versions (conversation_id, seq, version, body, edited_at)
           SELECT conversation_id, seq, version, body, coalesce(edited_at, created_at) FROM messages WHERE conversation_id = $1 AND seq = $2
           ON CONFLICT DO NOTHING`,
          [conv, effect.target],
        )
        await tx.query(`UPDATE messages SET body = $3::jsonb, edited_at = now(), version = $4 WHERE conversation_id = $1 AND seq = $2`, [
          conv,
          effect.target,
          JSON.stringify(effect.body),
          effect.version,
        ])
        break
      case 'message.tombstone':
        // Deleted for everyone: the seq stays, the content and its history go.
        await tx.query(`UPDATE messages SET body = 'null'::jsonb, meta = NULL, deleted_at = now() WHERE conversation_id = $1 AND seq = $2`, [conv, effect.target])
        await tx.query(`DELETE FROM message_versions WHERE conversation_id = $1 AND seq = $2`, [conv, effect.target])
        // The edit entries that carried its later texts lose them too.
        await tx.query(
          `UPDATE messages SET body = jsonb_build_object('target', $2::bigint, 'version', body -> 'version', 'redacted', true)
            WHERE conversation_id = $1 AND kind = 'edit' AND body ->> 'target' = $2::text`,
          [conv, effect.target],
        )
        await tx.query(`DELETE FROM message_reactions WHERE conversation_id = $1 AND seq = $2`, [conv, effect.target])
        break
      case 'block.add':
        await tx.query(`INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [effect.blocker, effect.blocked])
        break
      case 'block.remove':
        await tx.query(`DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2`, [effect.blocker, effect.blocked])
        break
      default: {
        const unreachable: never = effect
        throw new Error(`unknown effect ${JSON.stringify(unreachable)}`)
      }
    }
  }
}

/** New members start with their watermarks just before their join, so history is not "unread". */
async function upsertMembers(tx: SqlTx, conv: string, seq: number | null, effects: Array<Extract<GroupEffect, {t: 'member.upsert'}>>): Promise<void> {
  const users = effects.map((e) => e.user)
  await tx.query(
    `INSERT INTO members (conversation_id, user_id, role, joined_seq, delivered_seq, read_seq, added_by)
     SELECT $1, u, r, $4::bigint, GREATEST($4::bigint - 1, 0), GREATEST($4::bigint - 1, 0), a FROM unnest($2::uuid[], $3::text[], $5::uuid[]) AS v(u, r, a)
     ON CONFLICT (conversation_id, user_id) DO UPDATE SET role = EXCLUDED.role, changed_xid = pg_current_xact_id()`,
    [conv, users, effects.map((e) => e.role), seq ?? 0, effects.map((e) => e.addedBy)],
  )
  await tx.query(`DELETE FROM former_members WHERE conversation_id = $1 AND user_id = ANY($2::uuid[])`, [conv, users])
}

async function deleteMembers(tx: SqlTx, conv: string, seq: number, effects: Array<Extract<GroupEffect, {t: 'member.delete'}>>): Promise<void> {
  const users = effects.map((e) => e.user)
  await tx.query(`DELETE FROM members WHERE conversation_id = $1 AND user_id = ANY($2::uuid[])`, [conv, users])
  await tx.query(
    `INSERT INTO former_members (conversation_id, user_id, left_seq, reason)
     SELECT $1, u, $3, r FROM unnest($2::uuid[], $4::text[]) AS v(u, r)
     ON CONFLICT (conversation_id, user_id) DO UPDATE SET left_seq = EXCLUDED.left_seq, reason = EXCLUDED.reason, at = now(),
       changed_xid = pg_current_xact_id()`,
    [conv, users, seq, effects.map((e) => e.reason)],
  )
}

function groupRows<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>()
  for (const row of rows) {
    let list = out.get(key(row))
    if (!list) out.set(key(row), (list = []))
    list.push(row)
  }
  return out
}
