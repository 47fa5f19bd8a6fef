import type {Sql} from '../ports.js'
import {type NotifyPrefs, readPrefs} from '../push/prefs.js'
import type {PushProviderName, PushTarget, WebPushSubscription} from '../push/provider.js'

// Push registrations: at most one per device; a token registered by another device moves to the new one.

export async function registerPushToken(sql: Sql, user: string, device: string, target: PushTarget): Promise<void> {
  await sql.transaction(async (tx) => {
    await tx.query('DELETE FROM push_tokens WHERE provider = $1 AND token = $2 AND device_id <> $3', [target.provider, target.token, device])
    await tx.query(
      `INSERT INTO push_tokens (device_id, user_id, provider, token, subscription) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (device_id) DO UPDATE SET provider = EXCLUDED.provider, token = EXCLUDED.token, subscription = EXCLUDED.subscription, created_at = now()`,
      [device, user, target.provider, target.token, target.subscription ? JSON.stringify(target.subscription) : null],
    )
  })
}

export async function unregisterPushToken(sql: Sql, device: string): Promise<boolean> {
  const {rowCount} = await sql.query('DELETE FROM push_tokens WHERE device_id = $1', [device])
  return rowCount > 0
}

/** Removes a token the provider declared dead, unless the device has registered a new one meanwhile. */
export async function removeDeadToken(sql: Sql, device: string, token: string): Promise<void> {
  await sql.query('DELETE FROM push_tokens WHERE device_id = $1 AND token = $2', [device, token])
}

/**
 * For each (conversation, user) pair, the devices that should be notified of a new message there: not
 * logged out, with a push registration and notifications on, where the user has not muted the conversation.
 */
export async function pushableDevices(sql: Sql, pairs: ReadonlyArray<{conversation: string; user: string}>): Promise<Array<{conversation: string; user: string; device: string}>> {
  if (pairs.length === 0) return []
  // msgr_pushable_devices (migration 8): the join, its plan kept for the session.
  const {rows} = await sql.query<{conversation_id: string; user_id: string; device_id: string}>(
    'SELECT conversation_id, user_id, device_id FROM msgr_pushable_devices($1::uuid[], $2::uuid[])',
    [pairs.map((p) => p.conversation), pairs.map((p) => p.user)],
  )
  return rows.map((r) => ({conversation: r.conversation_id, user: r.user_id, device: r.device_id}))
}

export interface PushDevice {
  user: string
  revoked: boolean
  prefs: NotifyPrefs
  target: PushTarget | null
}

export async function loadPushDevice(sql: Sql, device: string): Promise<PushDevice | undefined> {
  const {rows} = await sql.query<{user_id: string; revoked: boolean; notify_prefs: unknown; provider: PushProviderName | null; token: string | null; subscription: WebPushSubscription | null}>(
    `SELECT d.user_id, d.revoked_at IS NOT NULL AS revoked, d.notify_prefs, t.provider, t.token, t.subscription
       FROM devices d LEFT JOIN push_tokens t ON t.device_id = d.id WHERE d.id = $1`,
    [device],
  )
  const row = rows[0]
  if (!row) return undefined
  const target: PushTarget | null =
    row.provider && row.token ? {provider: row.provider, token: row.token, ...(row.subscription ? {subscription: row.subscription} : {})} : null
  return {user: row.user_id, revoked: row.revoked, prefs: readPrefs(row.notify_prefs), target}
}

/** What a notification calls each sender: the display name, else the phone number. */
export async function senderNames(sql: Sql, users: readonly string[]): Promise<Map<string, string>> {
  if (users.length === 0) return new Map()
  const {rows} = await sql.query<{id: string; name: string}>('SELECT id, COALESCE(display_name, phone) AS name FROM users WHERE id = ANY($1::uuid[])', [[...new Set(users)]])
  return new Map(rows.map((r) => [r.id, r.name]))
}
