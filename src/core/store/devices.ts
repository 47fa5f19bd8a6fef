import {MsgrError} from '../../errors.js'
import type {Sql} from '../ports.js'
import {type NotifyPrefs, type NotifyPrefsPatch, notifyPrefsSchema, readPrefs} from '../push/prefs.js'
import type {PushProviderName} from '../push/provider.js'

// A user's devices (created by the OTP login, src/core/auth/auth-service.ts): list, rename, log out, and
// per-device notification preferences. A logged-out device keeps its row with revoked_at set: its sessions
// are revoked with it, so neither its refresh token nor its access tokens work any more.

export interface DeviceView {
  device: string
  name: string
  platform: string
  createdAt: string
  lastSeenAt: string | null
  /** The provider this device receives pushes through, or null. */
  push: PushProviderName | null
  prefs: NotifyPrefs
  /** True for the device that asked. */
  current: boolean
}

export async function listDevices(sql: Sql, user: string, current: string): Promise<DeviceView[]> {
  const {rows} = await sql.query<DeviceRow>(
    `SELECT d.id, d.name, d.platform, d.created_at, d.last_seen_at, d.notify_prefs, t.provider
       FROM devices d LEFT JOIN push_tokens t ON t.device_id = d.id
      WHERE d.user_id = $1 AND d.revoked_at IS NULL
      ORDER BY d.created_at, d.id`,
    [user],
  )
  return rows.map((r) => ({
    device: r.id,
    name: r.name,
    platform: r.platform,
    createdAt: iso(r.created_at)!,
    lastSeenAt: iso(r.last_seen_at),
    push: r.provider ?? null,
    prefs: readPrefs(r.notify_prefs),
    current: r.id === current,
  }))
}

export async function renameDevice(sql: Sql, user: string, device: string, name: string): Promise<void> {
  const {rowCount} = await sql.query('UPDATE devices SET name = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL', [device, user, name])
  if (rowCount === 0) throw new MsgrError('not_found', 'no such device (or it is logged out)')
}

/**
 * Logs a device out: marks it revoked, revokes its session (refresh token) and removes its push token,
 * in one transaction. Idempotent for a device already logged out; not_found for anyone else's device.
 */
export async function logoutDevice(sql: Sql, user: string, device: string, now: Date): Promise<{alreadyRevoked: boolean}> {
  return sql.transaction(async (tx) => {
    const {rows} = await tx.query<{revoked: boolean}>('SELECT revoked_at IS NOT NULL AS revoked FROM devices WHERE id = $1 AND user_id = $2 FOR UPDATE', [device, user])
    if (rows.length === 0) throw new MsgrError('not_found', 'no such device')
    await tx.query('UPDATE devices SET revoked_at = COALESCE(revoked_at, $2::timestamptz) WHERE id = $1', [device, now.toISOString()])
    await tx.query('UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2::timestamptz) WHERE device_id = $1', [device, now.toISOString()])
    await tx.query('DELETE FROM push_tokens WHERE device_id = $1', [device])
    return {alreadyRevoked: rows[0]!.revoked}
  })
}

export async function assertOwnDevice(sql: Sql, user: string, device: string): Promise<void> {
  const {rows} = await sql.query('SELECT 1 FROM devices WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL', [device, user])
  if (rows.length === 0) throw new MsgrError('not_found', 'no such device (or it is logged out)')
}

/** Reads (empty patch) or changes a device's notification preferences; returns the result. */
export async function updatePrefs(sql: Sql, user: string, device: string, patch: NotifyPrefsPatch): Promise<NotifyPrefs> {
  return sql.transaction(async (tx) => {
    const {rows} = await tx.query<{notify_prefs: unknown}>(
      'SELECT notify_prefs FROM devices WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL FOR UPDATE',
      [device, user],
    )
    if (rows.length === 0) throw new MsgrError('not_found', 'no such device (or it is logged out)')
    const merged = notifyPrefsSchema.parse({...readPrefs(rows[0]!.notify_prefs), ...stripUndefined(patch)})
    if (Object.keys(stripUndefined(patch)).length > 0) {
      await tx.query('UPDATE devices SET notify_prefs = $2::jsonb WHERE id = $1', [device, JSON.stringify(merged)])
    }
    return merged
  })
}

interface DeviceRow {
  id: string
  name: string
  platform: string
  created_at: Date | string
  last_seen_at: Date | string | null
  notify_prefs: unknown
  provider: PushProviderName | null
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

function iso(value: Date | string | null): string | null {
  if (value === null) return null
  return (value instanceof Date ? value : new Date(value)).toISOString()
}
