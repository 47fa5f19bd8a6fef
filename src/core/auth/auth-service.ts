import {createHash, randomInt, timingSafeEqual} from 'node:crypto'

import {MsgrError} from '../../errors.js'
import {newId} from '../ids.js'
import type {Logger} from '../logger.js'
import {systemClock, type Clock, type Sql, type SqlTx} from '../ports.js'
import type {SmsSink} from './sms.js'
import {createAccessTokens, hashRefreshToken, isRefreshTokenShaped, isUuid, newRefreshToken, type AccessClaims, type VerifiedAccess} from './tokens.js'

export interface DeviceInfo {
  /** 1..64 characters, e.g. "Ana's laptop". */
  name: string
  /** 1..32 characters, e.g. "web", "ios", "cli". */
  platform: string
}

/** The body of a successful verify or refresh (protocol v1). */
export interface TokenPair {
  userId: string
  deviceId: string
  accessToken: string
  refreshToken: string
  /** Seconds until the access token expires. */
  expiresIn: number
}

export interface AuthOptions {
  sql: Sql
  sms: SmsSink
  /** HS256 key, at least 32 characters. */
  jwtSecret: string
  accessTtlSec?: number
  refreshTtlSec?: number
  otpTtlSec?: number
  otpMaxAttempts?: number
  otpMaxSendsPerWindow?: number
  otpWindowSec?: number
  clock?: Clock
  /** Tests and development only: every code is this one. */
  fixedOtp?: string
  /** Security events (refresh-token reuse) are logged here. */
  logger?: Logger
  /** A session was revoked because its refresh token was used twice (stolen): its device's open sockets should close. */
  onSessionRevoked?: (revoked: {userId: string; deviceId: string; sessionId: string}) => void
}

export interface AuthService {
  /** Sends a code to `phone`; rate_limited (details.retryAfterSec) after too many sends per window. */
  startOtp(phone: string): Promise<void>
  /** Trades a correct code for a new device with its own session and tokens. */
  verifyOtp(phone: string, code: string, device: DeviceInfo): Promise<TokenPair>
  /** Rotates the refresh token; a token used twice revokes its session. */
  refresh(refreshToken: string): Promise<TokenPair>
  /** Signature and expiry only; use isSessionActive to also honour revocation. */
  verifyAccessToken(token: string): Promise<VerifiedAccess>
  /** The session is live (not revoked, device not revoked, not expired) and, when `of` is given, belongs to that user and device. */
  isSessionActive(sessionId: string, of?: {userId: string; deviceId: string}): Promise<boolean>
  /** The last code the development sink recorded for `phone`. */
  devOtp(phone: string): Promise<string | undefined>
  /** Admin-only (operator CLI): tokens for a new device of `phone` without any OTP. */
  issueForPhone(phone: string, device: DeviceInfo): Promise<TokenPair>
}

export const PHONE_PATTERN = /^\+[1-9]\d{6,14}$/

export function createAuthService(options: AuthOptions): AuthService {
  const config = resolveConfig(options)
  const {sql, sms} = options
  const clock = options.clock ?? systemClock
  const tokens = createAccessTokens({secret: options.jwtSecret, ttlSec: config.accessTtlSec, clock})
  const log = options.logger

  const pair = async (session: NewSession): Promise<TokenPair> => ({
    userId: session.userId,
    deviceId: session.deviceId,
    accessToken: await tokens.sign(session),
    refreshToken: session.refreshToken,
    expiresIn: tokens.ttlSec,
  })

  return {
    async startOtp(phone) {
      checkPhone(phone)
      const now = clock.now()
      const code = config.fixedOtp ?? randomInt(0, 1_000_000).toString().padStart(6, '0')
      // One statement decides the window and stores the code, so concurrent sends cannot overshoot the limit.
      const stored = await sql.query(
        `INSERT INTO otp_codes (phone, code_hash, attempts, sent_count, window_start, expires_at, created_at)
         VALUES ($1, decode($2, 'hex'), 0, 1, $3::timestamptz, $4::timestamptz, $3::timestamptz)
         ON CONFLICT (phone) DO UPDATE SET
           code_hash = EXCLUDED.code_hash,
           attempts = 0,
           expires_at = EXCLUDED.expires_at,
           created_at = EXCLUDED.created_at,
           sent_count = CASE WHEN otp_codes.window_start <= $5::timestamptz THEN 1 ELSE otp_codes.sent_count + 1 END,
           window_start = CASE WHEN otp_codes.window_start <= $5::timestamptz THEN EXCLUDED.window_start ELSE otp_codes.window_start END
         WHERE otp_codes.window_start <= $5::timestamptz OR otp_codes.sent_count < $6
         RETURNING phone`,
        [phone, hashCode(code), iso(now), iso(now + config.otpTtlSec * 1000), iso(now - config.otpWindowSec * 1000), config.otpMaxSendsPerWindow],
      )
      if (stored.rows.length === 0) {
        const retryAfterSec = await secondsUntilWindowEnds(sql, phone, now, config.otpWindowSec)
        throw new MsgrError('rate_limited', `too many codes sent to this phone; retry in ${retryAfterSec}s`, {retryAfterSec})
      }
      await sms.send(phone, code)
    },

    async verifyOtp(phone, code, device) {
      checkPhone(phone)
      checkCode(code)
      checkDevice(device)
      const now = clock.now()
      // Commits attempt counting even when the code is wrong, so the outcome is thrown only after the transaction.
      const outcome = await sql.transaction(async (tx): Promise<VerifyOutcome> => {
        const {rows} = await tx.query<{code_hash: string; attempts: number; expired: boolean}>(
          `SELECT encode(code_hash, 'hex') AS code_hash, attempts, expires_at <= $2::timestamptz AS expired
           FROM otp_codes WHERE phone = $1 FOR UPDATE`,
          [phone, iso(now)],
        )
        const row = rows[0]
        if (!row) return {kind: 'missing'}
        if (row.attempts >= config.otpMaxAttempts) return {kind: 'exhausted'}
        if (row.expired) return {kind: 'expired'}
        if (!sameHash(row.code_hash, hashCode(code))) {
          const attempts = row.attempts + 1
          if (attempts >= config.otpMaxAttempts) {
            // The code dies, but the row stays: it carries the send window that startOtp rate-limits on.
            await tx.query(
              `UPDATE otp_codes SET attempts = $2, code_hash = ''::bytea, expires_at = $3::timestamptz WHERE phone = $1`,
              [phone, attempts, iso(now)],
            )
            return {kind: 'exhausted'}
          }
          await tx.query('UPDATE otp_codes SET attempts = $2 WHERE phone = $1', [phone, attempts])
          return {kind: 'wrong', attemptsLeft: config.otpMaxAttempts - attempts}
        }
        await tx.query('DELETE FROM otp_codes WHERE phone = $1', [phone])
        return {kind: 'ok', session: await createSession(tx, phone, device, now, config.refreshTtlSec)}
      })
      switch (outcome.kind) {
        case 'ok':
          return pair(outcome.session)
        case 'missing':
          throw new MsgrError('otp_invalid', 'no code is pending for this phone; start a new OTP flow')
        case 'expired':
          throw new MsgrError('otp_invalid', 'the code has expired; start a new OTP flow')
        case 'wrong':
          throw new MsgrError('otp_invalid', 'the code is wrong', {attemptsLeft: outcome.attemptsLeft})
        case 'exhausted':
          throw new MsgrError('otp_attempts_exceeded', 'too many wrong codes; start a new OTP flow')
      }
    },

    async refresh(refreshToken) {
      if (!isRefreshTokenShaped(refreshToken)) throw new MsgrError('invalid_refresh_token', 'refresh token is malformed')
      const oldHash = hashRefreshToken(refreshToken).toString('hex')
      const next = newRefreshToken()
      const now = clock.now()
      const outcome = await sql.transaction(async (tx): Promise<RefreshOutcome> => {
        // Matching on the old hash makes rotation a compare-and-swap: of two concurrent uses, one finds no row.
        const rotated = await tx.query<{id: string; user_id: string; device_id: string}>(
          `UPDATE sessions s
           SET refresh_hash = decode($2, 'hex'), generation = s.generation + 1, rotated_at = $3::timestamptz, expires_at = $4::timestamptz
           WHERE s.refresh_hash = decode($1, 'hex') AND s.revoked_at IS NULL AND s.expires_at > $3::timestamptz
             AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = s.device_id AND d.revoked_at IS NOT NULL)
           RETURNING s.id, s.user_id, s.device_id`,
          [oldHash, next.hash.toString('hex'), iso(now), iso(now + config.refreshTtlSec * 1000)],
        )
        const session = rotated.rows[0]
        if (session) {
          await tx.query(
            `INSERT INTO used_refresh_tokens (refresh_hash, session_id, used_at) VALUES (decode($1, 'hex'), $2, $3::timestamptz)`,
            [oldHash, session.id, iso(now)],
          )
          return {kind: 'ok', session: {userId: session.user_id, deviceId: session.device_id, sessionId: session.id, refreshToken: next.token}}
        }
        const used = await tx.query<{session_id: string}>(
          `SELECT session_id FROM used_refresh_tokens WHERE refresh_hash = decode($1, 'hex')`,
          [oldHash],
        )
        const reusedSession = used.rows[0]?.session_id
        if (!reusedSession) return {kind: 'invalid'}
        const revoked = await tx.query<{user_id: string; device_id: string}>(
          'UPDATE sessions SET revoked_at = $2::timestamptz WHERE id = $1 AND revoked_at IS NULL RETURNING user_id, device_id',
          [reusedSession, iso(now)],
        )
        const first = revoked.rows[0]
        return {kind: 'reused', sessionId: reusedSession, device: first && {userId: first.user_id, deviceId: first.device_id}}
      })
      if (outcome.kind === 'ok') return pair(outcome.session)
      if (outcome.kind === 'reused') {
        log?.warn({sessionId: outcome.sessionId}, 'refresh token reused; session revoked')
        // Only the revocation itself closes sockets: a later reuse of the same token finds the session already revoked.
        if (outcome.device) options.onSessionRevoked?.({...outcome.device, sessionId: outcome.sessionId})
        throw new MsgrError('invalid_refresh_token', 'refresh token was already used; the session is revoked, sign in again')
      }
      throw new MsgrError('invalid_refresh_token', 'refresh token is unknown, expired or revoked')
    },

    verifyAccessToken: (token) => tokens.verify(token),

    async isSessionActive(sessionId, of) {
      if (!isUuid(sessionId)) return false
      const {rows} = await sql.query<{user_id: string; device_id: string}>(
        `SELECT s.user_id, s.device_id FROM sessions s JOIN devices d ON d.id = s.device_id
         WHERE s.id = $1 AND s.revoked_at IS NULL AND d.revoked_at IS NULL AND s.expires_at > $2::timestamptz`,
        [sessionId, iso(clock.now())],
      )
      const row = rows[0]
      if (!row) return false
      // A token naming one device with another device's session is refused (defence in depth behind the signature).
      return !of || (row.user_id === of.userId && row.device_id === of.deviceId)
    },

    async devOtp(phone) {
      checkPhone(phone)
      const {rows} = await sql.query<{code: string}>('SELECT code FROM dev_otp_outbox WHERE phone = $1', [phone])
      return rows[0]?.code
    },

    async issueForPhone(phone, device) {
      checkPhone(phone)
      checkDevice(device)
      const now = clock.now()
      const session = await sql.transaction((tx) => createSession(tx, phone, device, now, config.refreshTtlSec))
      return pair(session)
    },
  }
}

interface NewSession extends AccessClaims {
  refreshToken: string
}

type VerifyOutcome =
  | {kind: 'ok'; session: NewSession}
  | {kind: 'missing'}
  | {kind: 'expired'}
  | {kind: 'wrong'; attemptsLeft: number}
  | {kind: 'exhausted'}

type RefreshOutcome = {kind: 'ok'; session: NewSession} | {kind: 'reused'; sessionId: string; device?: {userId: string; deviceId: string}} | {kind: 'invalid'}

type Config = Required<Pick<AuthOptions, 'accessTtlSec' | 'refreshTtlSec' | 'otpTtlSec' | 'otpMaxAttempts' | 'otpMaxSendsPerWindow' | 'otpWindowSec'>> & {
  fixedOtp?: string
}

function resolveConfig(options: AuthOptions): Config {
  const config = {
    accessTtlSec: options.accessTtlSec ?? 900,
    refreshTtlSec: options.refreshTtlSec ?? 30 * 24 * 3600,
    otpTtlSec: options.otpTtlSec ?? 300,
    otpMaxAttempts: options.otpMaxAttempts ?? 5,
    otpMaxSendsPerWindow: options.otpMaxSendsPerWindow ?? 5,
    otpWindowSec: options.otpWindowSec ?? 3600,
  }
  for (const [name, value] of Object.entries(config)) {
    if (!Number.isInteger(value) || value <= 0) throw new Error(`auth option ${name} must be a positive integer, got ${value}`)
  }
  if (options.fixedOtp !== undefined && !CODE_PATTERN.test(options.fixedOtp)) {
    throw new Error('auth option fixedOtp must be 4 to 10 digits')
  }
  return {...config, fixedOtp: options.fixedOtp}
}

/** One transaction: the user (created on first sign-in), a new device and its session. */
async function createSession(tx: SqlTx, phone: string, device: DeviceInfo, now: number, refreshTtlSec: number): Promise<NewSession> {
  const user = await tx.query<{id: string}>(
    // DO UPDATE (a no-op) rather than DO NOTHING so RETURNING yields the existing id too.
    `INSERT INTO users (id, phone, created_at) VALUES ($1, $2, $3::timestamptz)
     ON CONFLICT (phone) DO UPDATE SET phone = EXCLUDED.phone
     RETURNING id`,
    [newId(), phone, iso(now)],
  )
  const userId = user.rows[0]!.id
  const deviceId = newId()
  await tx.query(
    `INSERT INTO devices (id, user_id, name, platform, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5::timestamptz, $5::timestamptz)`,
    [deviceId, userId, device.name, device.platform, iso(now)],
  )
  const sessionId = newId()
  const refresh = newRefreshToken()
  await tx.query(
    `INSERT INTO sessions (id, device_id, user_id, refresh_hash, generation, created_at, rotated_at, expires_at)
     VALUES ($1, $2, $3, decode($4, 'hex'), 1, $5::timestamptz, $5::timestamptz, $6::timestamptz)`,
    [sessionId, deviceId, userId, refresh.hash.toString('hex'), iso(now), iso(now + refreshTtlSec * 1000)],
  )
  return {userId, deviceId, sessionId, refreshToken: refresh.token}
}

async function secondsUntilWindowEnds(sql: Sql, phone: string, now: number, windowSec: number): Promise<number> {
  const {rows} = await sql.query<{start_ms: number}>(
    'SELECT (extract(epoch FROM window_start) * 1000)::float8 AS start_ms FROM otp_codes WHERE phone = $1',
    [phone],
  )
  const start = rows[0]?.start_ms ?? now
  return Math.max(1, Math.ceil((Number(start) + windowSec * 1000 - now) / 1000))
}

const CODE_PATTERN = /^\d{4,10}$/

function checkPhone(phone: unknown): asserts phone is string {
  if (typeof phone !== 'string' || !PHONE_PATTERN.test(phone)) {
    throw new MsgrError('invalid_request', 'phone must be in E.164 form, e.g. +15550001111')
  }
}

function checkCode(code: unknown): asserts code is string {
  if (typeof code !== 'string' || !CODE_PATTERN.test(code)) throw new MsgrError('invalid_request', 'code must be the digits that were sent')
}

function checkDevice(device: unknown): asserts device is DeviceInfo {
  const {name, platform} = (typeof device === 'object' && device !== null ? device : {}) as Partial<Record<string, unknown>>
  if (!isText(name, 64)) throw new MsgrError('invalid_request', 'device.name must be 1 to 64 characters')
  if (!isText(platform, 32)) throw new MsgrError('invalid_request', 'device.platform must be 1 to 32 characters')
}

function isText(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.trim().length > 0 && value.length <= max
}

function hashCode(code: string): string {
  return createHash('sha256').update(code, 'utf8').digest('hex')
}

function sameHash(storedHex: string, candidateHex: string): boolean {
  const stored = Buffer.from(storedHex, 'hex')
  const candidate = Buffer.from(candidateHex, 'hex')
  return stored.length === candidate.length && timingSafeEqual(stored, candidate)
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}
