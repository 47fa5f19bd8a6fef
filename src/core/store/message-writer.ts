import {sendKey} from '../envelope.js'
import type {Sql} from '../ports.js'
import type {BatchPlan, ConversationState} from '../sequencer.js'
import type {MessageRow} from './conversations.js'

// The worker's SQL: one multi-row INSERT and one compare-and-set UPDATE per batch, in one transaction.

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
    sql.query<{id: string; kind: 'direct' | 'group'; last_seq: number}>(
      'SELECT id, kind, last_seq FROM conversations WHERE id = ANY($1::uuid[])',
      [ids],
    ),
    sql.query<{conversation_id: string; user_id: string}>(
      'SELECT conversation_id, user_id FROM members WHERE conversation_id = ANY($1::uuid[])',
      [ids],
    ),
  ])
  const byConv = new Map<string, Set<string>>()
  for (const m of members.rows) {
    let set = byConv.get(m.conversation_id)
    if (!set) byConv.set(m.conversation_id, (set = new Set()))
    set.add(m.user_id)
  }
  for (const c of convs.rows) states.set(c.id, {id: c.id, kind: c.kind, lastSeq: c.last_seq, members: byConv.get(c.id) ?? new Set()})
  return states
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
  if (plan.inserts.length === 0) return
  const rows = plan.inserts
  await sql.transaction(async (tx) => {
    // Compare-and-set first: a batch planned on a stale last_seq (another owner wrote meanwhile) fails here
    // and writes nothing; the worker reloads the conversation and plans again.
    const moved = await tx.query(
      `UPDATE conversations c SET last_seq = v.to_seq, last_ts = v.ts, changed_xid = pg_current_xact_id()
         FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[]) AS v(id, from_seq, to_seq, ts)
        WHERE c.id = v.id AND c.last_seq = v.from_seq`,
      [
        plan.advances.map((a) => a.conversation),
        plan.advances.map((a) => a.from),
        plan.advances.map((a) => a.to),
        plan.advances.map((a) => a.ts),
      ],
    )
    if (moved.rowCount !== plan.advances.length) {
      const check = await tx.query<{id: string; last_seq: number}>('SELECT id, last_seq FROM conversations WHERE id = ANY($1::uuid[])', [
        plan.advances.map((a) => a.conversation),
      ])
      const actual = new Map(check.rows.map((r) => [r.id, r.last_seq]))
      throw new FencingConflict(plan.advances.filter((a) => actual.get(a.conversation) !== a.to).map((a) => a.conversation))
    }
    // Sending implies having read up to there: the sender's own messages never count as unread.
    const own = new Map<string, {conv: string; user: string; seq: number}>()
    for (const r of rows) own.set(`${r.conversation_id}|${r.sender_id}`, {conv: r.conversation_id, user: r.sender_id, seq: r.seq})
    await tx.query(
      `UPDATE members m SET read_seq = GREATEST(m.read_seq, v.seq), delivered_seq = GREATEST(m.delivered_seq, v.seq),
              changed_xid = pg_current_xact_id()
         FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS v(conv, usr, seq)
        WHERE m.conversation_id = v.conv AND m.user_id = v.usr`,
      [[...own.values()].map((o) => o.conv), [...own.values()].map((o) => o.user), [...own.values()].map((o) => o.seq)],
    )
    // Optimistic idempotency: no lookup up front. A key that is already stored is skipped here, and the
    // whole transaction is rolled back and planned again knowing it (seqs must stay gapless).
    const inserted = await tx.query<{conversation_id: string; sender_id: string; client_msg_id: string}>(
      `INSERT INTO messages (conversation_id, seq, id, sender_id, sender_device, client_msg_id, kind, body, reply_to, created_at)
       SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::jsonb[], $9::bigint[], $10::timestamptz[])
       ON CONFLICT (conversation_id, sender_id, client_msg_id) DO NOTHING
       RETURNING conversation_id, sender_id, client_msg_id`,
      [
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
      ],
    )
    if (inserted.rows.length < rows.length) {
      const done = new Set(inserted.rows.map((r) => sendKey(r.conversation_id, r.sender_id, r.client_msg_id)))
      throw new AlreadyStored(
        rows
          .filter((r) => !done.has(sendKey(r.conversation_id, r.sender_id, r.client_msg_id)))
          .map((r) => ({conv: r.conversation_id, sender: r.sender_id, clientMsgId: r.client_msg_id})),
      )
    }
  })
}
