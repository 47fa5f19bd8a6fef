import type {PushHistoryView} from '../../protocol/frames.js'
import type {Sql} from '../ports.js'

// Notification history per device: one row per outcome of a notification attempt (push.history).

export type PushHistoryStatus = PushHistoryView['status']

/** One outcome as recorded: the wire view (src/protocol/frames.ts) without its time, with its device and user. */
export interface PushHistoryRow extends Omit<PushHistoryView, 'at'> {
  device: string
  user: string
}

export type PushHistoryEntry = PushHistoryView

export async function recordPushHistory(sql: Sql, row: PushHistoryRow, at: Date): Promise<void> {
  await sql.query(
    `INSERT INTO push_history (id, device_id, user_id, status, provider, title, body, message_count, conversations, attempt, detail, provider_id, at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::uuid[], $10, $11, $12, $13::timestamptz)`,
    [row.id, row.device, row.user, row.status, row.provider, row.title, row.body, row.count, row.conversations, row.attempt, row.detail, row.providerId, at.toISOString()],
  )
}

/** Newest first. */
export async function listPushHistory(sql: Sql, device: string, limit: number): Promise<PushHistoryEntry[]> {
  const {rows} = await sql.query<{
    id: string
    status: PushHistoryStatus
    provider: string | null
    title: string | null
    body: string | null
    message_count: number
    conversations: string[]
    attempt: number
    detail: string | null
    provider_id: string | null
    at: Date | string
  }>(
    `SELECT id, status, provider, title, body, message_count, conversations, attempt, detail, provider_id, at
       FROM push_history WHERE device_id = $1 ORDER BY at DESC, id LIMIT $2`,
    [device, limit],
  )
  return rows.map((r) => ({
    id: r.id,
    status: r.status,
    provider: r.provider,
    title: r.title,
    body: r.body,
    count: Number(r.message_count),
    conversations: r.conversations,
    attempt: Number(r.attempt),
    detail: r.detail,
    providerId: r.provider_id,
    at: (r.at instanceof Date ? r.at : new Date(r.at)).toISOString(),
  }))
}

/** Deletes outcomes recorded before `before`, `batch` rows per statement (short locks); returns how many went. */
export async function prunePushHistory(sql: Sql, before: Date, batch = 5000): Promise<number> {
  let total = 0
  for (;;) {
    const {rowCount} = await sql.query(
      `DELETE FROM push_history WHERE id IN (SELECT id FROM push_history WHERE at < $1::timestamptz LIMIT $2)`,
      [before.toISOString(), batch],
    )
    total += rowCount
    if (rowCount < batch) return total
  }
}
