import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createPgliteSql} from '../../src/adapters/pglite/sql.js'
import {createPostgresSql} from '../../src/adapters/postgres/sql.js'
import {createAuthService, type AuthOptions, type AuthService} from '../../src/core/auth/auth-service.js'
import {createDevSmsSink, type SmsSink} from '../../src/core/auth/sms.js'
import {silentLogger} from '../../src/core/logger.js'
import type {Clock, Sql} from '../../src/core/ports.js'
import {migrate} from '../../src/core/store/migrate.js'
import {MsgrError, type ErrorCode} from '../../src/errors.js'
import {createTestDatabase, findServices, haveServices} from '../helpers/services.js'
import {randomPhone} from '../helpers/cluster.js'

const SECRET = 'test-secret-that-is-at-least-32-characters-long'
const DEVICE = {name: 'test laptop', platform: 'cli'}

interface Leg {
  name: string
  enabled: boolean
  open(): Promise<{sql: Sql; close(): Promise<void>}>
}

const postgresAvailable = await haveServices('postgres')

const legs: Leg[] = [
  {
    name: 'pglite',
    enabled: true,
    async open() {
      const sql = await createPgliteSql()
      await migrate(sql)
      return {sql, close: () => sql.close()}
    },
  },
  {
    name: 'postgres',
    enabled: postgresAvailable,
    async open() {
      const {postgres: adminUrl} = await findServices()
      const db = await createTestDatabase(adminUrl!)
      const sql = createPostgresSql({url: db.url})
      await migrate(sql)
      return {
        sql,
        async close() {
          await sql.close()
          await db.drop()
        },
      }
    },
  },
]

describe.each(legs)('auth service on $name', (leg) => {
  describe.runIf(leg.enabled)('flows', () => {
    let sql: Sql
    let close: () => Promise<void>

    beforeAll(async () => {
      ;({sql, close} = await leg.open())
    })
    afterAll(async () => {
      await close?.()
    })

    const setup = (overrides: Partial<AuthOptions> = {}) => {
      const sink = capturingSink()
      const clock = manualClock()
      const auth = createAuthService({sql, sms: sink, jwtSecret: SECRET, clock, ...overrides})
      return {auth, sink, clock}
    }

    const signIn = async (auth: AuthService, sink: CapturingSink, phone: string) => {
      await auth.startOtp(phone)
      return auth.verifyOtp(phone, sink.last(phone), DEVICE)
    }

    it('start + verify issues tokens that verify', async () => {
      const {auth, sink} = setup()
      const phone = uniquePhone()
      await auth.startOtp(phone)
      expect(sink.last(phone)).toMatch(/^\d{6}$/)
      const result = await auth.verifyOtp(phone, sink.last(phone), DEVICE)
      expect(result).toEqual({
        userId: expect.any(String),
        deviceId: expect.any(String),
        accessToken: expect.any(String),
        refreshToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        expiresIn: 900,
      })
      const claims = await auth.verifyAccessToken(result.accessToken)
      expect(claims.userId).toBe(result.userId)
      expect(claims.deviceId).toBe(result.deviceId)
      expect(await auth.isSessionActive(claims.sessionId)).toBe(true)
      // The code is single-use.
      await expectCode(auth.verifyOtp(phone, sink.last(phone), DEVICE), 'otp_invalid')
    })

    it('the same phone twice is the same user with two devices', async () => {
      const {auth, sink} = setup()
      const phone = uniquePhone()
      const first = await signIn(auth, sink, phone)
      const second = await signIn(auth, sink, phone)
      expect(second.userId).toBe(first.userId)
      expect(second.deviceId).not.toBe(first.deviceId)
      const {rows} = await sql.query<{n: number}>('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [first.userId])
      expect(rows[0]!.n).toBe(2)
    })

    it('wrong codes are counted and exhaust the code', async () => {
      const {auth, sink} = setup({otpMaxAttempts: 3})
      const phone = uniquePhone()
      await auth.startOtp(phone)
      const good = sink.last(phone)
      const bad = good === '000000' ? '111111' : '000000'
      const first = await expectCode(auth.verifyOtp(phone, bad, DEVICE), 'otp_invalid')
      expect(first.details).toEqual({attemptsLeft: 2})
      await expectCode(auth.verifyOtp(phone, bad, DEVICE), 'otp_invalid')
      await expectCode(auth.verifyOtp(phone, bad, DEVICE), 'otp_attempts_exceeded')
      // Even the right code is dead now.
      await expectCode(auth.verifyOtp(phone, good, DEVICE), 'otp_attempts_exceeded')
      // A new flow works again.
      await auth.startOtp(phone)
      await expect(auth.verifyOtp(phone, sink.last(phone), DEVICE)).resolves.toHaveProperty('userId')
    })

    it('an expired code is otp_invalid', async () => {
      const {auth, sink, clock} = setup({otpTtlSec: 60})
      const phone = uniquePhone()
      await auth.startOtp(phone)
      clock.advance(61_000)
      const error = await expectCode(auth.verifyOtp(phone, sink.last(phone), DEVICE), 'otp_invalid')
      expect(error.message).toMatch(/expired/)
    })

    it('rate-limits sends per phone per window', async () => {
      const {auth, clock} = setup({otpMaxSendsPerWindow: 3, otpWindowSec: 600})
      const phone = uniquePhone()
      for (let i = 0; i < 3; i++) await auth.startOtp(phone)
      clock.advance(100_000)
      const error = await expectCode(auth.startOtp(phone), 'rate_limited')
      expect(error.details).toEqual({retryAfterSec: 500})
      clock.advance(500_000)
      await expect(auth.startOtp(phone)).resolves.toBeUndefined()
    })

    it('exhausting attempts does not reset the send limit', async () => {
      const {auth, sink} = setup({otpMaxAttempts: 1, otpMaxSendsPerWindow: 2})
      const phone = uniquePhone()
      for (let i = 0; i < 2; i++) {
        await auth.startOtp(phone)
        const bad = sink.last(phone) === '000000' ? '111111' : '000000'
        await expectCode(auth.verifyOtp(phone, bad, DEVICE), 'otp_attempts_exceeded')
      }
      await expectCode(auth.startOtp(phone), 'rate_limited')
    })

    it('refresh rotates; reusing the old token revokes the session', async () => {
      const {auth, sink} = setup()
      const first = await signIn(auth, sink, uniquePhone())
      const second = await auth.refresh(first.refreshToken)
      expect(second.userId).toBe(first.userId)
      expect(second.deviceId).toBe(first.deviceId)
      expect(second.refreshToken).not.toBe(first.refreshToken)
      const {sessionId} = await auth.verifyAccessToken(second.accessToken)
      const {rows} = await sql.query<{generation: number}>('SELECT generation FROM sessions WHERE id = $1', [sessionId])
      expect(rows[0]!.generation).toBe(2)

      const reuse = await expectCode(auth.refresh(first.refreshToken), 'invalid_refresh_token')
      expect(reuse.message).toMatch(/already used/)
      expect(await auth.isSessionActive(sessionId)).toBe(false)
      await expectCode(auth.refresh(second.refreshToken), 'invalid_refresh_token')
    })

    it('unknown and expired refresh tokens are refused', async () => {
      const {auth, sink, clock} = setup({refreshTtlSec: 3600})
      await expectCode(auth.refresh('A'.repeat(43)), 'invalid_refresh_token')
      await expectCode(auth.refresh('not a token'), 'invalid_refresh_token')
      const session = await signIn(auth, sink, uniquePhone())
      clock.advance(3601_000)
      await expectCode(auth.refresh(session.refreshToken), 'invalid_refresh_token')
    })

    it('of two concurrent refreshes with one token exactly one succeeds', async () => {
      const {auth, sink} = setup()
      const session = await signIn(auth, sink, uniquePhone())
      const results = await Promise.allSettled([auth.refresh(session.refreshToken), auth.refresh(session.refreshToken)])
      const won = results.filter((r) => r.status === 'fulfilled')
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      expect(won).toHaveLength(1)
      expect(lost).toHaveLength(1)
      expect(lost[0]!.reason).toBeInstanceOf(MsgrError)
      expect((lost[0]!.reason as MsgrError).code).toBe('invalid_refresh_token')
      // The loser presented a rotated-away token: strict reuse detection revokes the family.
      const {sessionId} = await auth.verifyAccessToken(session.accessToken)
      expect(await auth.isSessionActive(sessionId)).toBe(false)
    })

    it('an expired access token is unauthenticated', async () => {
      const {auth, sink, clock} = setup({accessTtlSec: 60})
      const session = await signIn(auth, sink, uniquePhone())
      await expect(auth.verifyAccessToken(session.accessToken)).resolves.toHaveProperty('userId', session.userId)
      clock.advance(61_000)
      const error = await expectCode(auth.verifyAccessToken(session.accessToken), 'unauthenticated')
      expect(error.message).toMatch(/expired/)
      await expectCode(auth.verifyAccessToken(`${session.accessToken}x`), 'unauthenticated')
    })

    it('bad phones and devices are invalid_request', async () => {
      const {auth} = setup()
      for (const phone of ['15550001111', '+0555000111', '+1 555 000 1111', '+123', '', '+1234567890123456']) {
        await expectCode(auth.startOtp(phone), 'invalid_request')
      }
      await expectCode(auth.startOtp(42 as unknown as string), 'invalid_request')
      const phone = uniquePhone()
      await expectCode(auth.verifyOtp(phone, '123456', {name: '', platform: 'cli'}), 'invalid_request')
      await expectCode(auth.verifyOtp(phone, '123456', {name: 'x'.repeat(65), platform: 'cli'}), 'invalid_request')
      await expectCode(auth.verifyOtp(phone, '123456', {name: 'ok', platform: 'p'.repeat(33)}), 'invalid_request')
      await expectCode(auth.issueForPhone('nope', DEVICE), 'invalid_request')
    })

    it('the dev sink writes dev_otp_outbox, readable by devOtp', async () => {
      const auth = createAuthService({sql, sms: createDevSmsSink(sql, silentLogger()), jwtSecret: SECRET})
      const phone = uniquePhone()
      expect(await auth.devOtp(phone)).toBeUndefined()
      await auth.startOtp(phone)
      const code = await auth.devOtp(phone)
      expect(code).toMatch(/^\d{6}$/)
      await expect(auth.verifyOtp(phone, code!, DEVICE)).resolves.toHaveProperty('userId')
    })

    it('fixedOtp always sends that code', async () => {
      const {auth, sink} = setup({fixedOtp: '424242'})
      const phone = uniquePhone()
      await auth.startOtp(phone)
      expect(sink.last(phone)).toBe('424242')
      await expect(auth.verifyOtp(phone, '424242', DEVICE)).resolves.toHaveProperty('userId')
    })

    it('issueForPhone creates a user and device without an OTP', async () => {
      const {auth, sink} = setup()
      const phone = uniquePhone()
      const issued = await auth.issueForPhone(phone, DEVICE)
      const claims = await auth.verifyAccessToken(issued.accessToken)
      expect(claims.userId).toBe(issued.userId)
      expect(sink.sent).toHaveLength(0)
      const again = await signIn(auth, sink, phone)
      expect(again.userId).toBe(issued.userId)
      await expect(auth.refresh(issued.refreshToken)).resolves.toHaveProperty('deviceId', issued.deviceId)
    })
  })
})

interface CapturingSink extends SmsSink {
  sent: Array<{phone: string; code: string}>
  last(phone: string): string
}

function capturingSink(): CapturingSink {
  const sent: Array<{phone: string; code: string}> = []
  return {
    sent,
    async send(phone, code) {
      sent.push({phone, code})
    },
    last(phone) {
      const hit = sent.findLast((s) => s.phone === phone)
      if (!hit) throw new Error(`no code sent to ${phone}`)
      return hit.code
    },
  }
}

function manualClock(start = Date.now()): Clock & {advance(ms: number): void} {
  let now = start
  return {
    now: () => now,
    advance(ms) {
      now += ms
    },
  }
}

// Suites share one database per leg, so each case uses its own phone.
const uniquePhone = randomPhone

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<MsgrError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected ${code}, but it succeeded`)
    },
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(MsgrError)
  expect((error as MsgrError).code).toBe(code)
  return error as MsgrError
}
