import {createHash, randomBytes, webcrypto} from 'node:crypto'

import {SignJWT, errors, jwtVerify} from 'jose'

import {MsgrError} from '../../errors.js'
import {systemClock, type Clock} from '../ports.js'

export const ACCESS_TOKEN_ISSUER = 'msgr'
export const MIN_JWT_SECRET_LENGTH = 32
export const DEFAULT_ACCESS_TTL_SEC = 900

export interface AccessClaims {
  userId: string
  deviceId: string
  sessionId: string
}

export interface AccessTokenOptions {
  /** HMAC key for HS256; at least 32 characters. */
  secret: string
  ttlSec?: number
  clock?: Clock
}

/** Claims of a verified token and when it expires (ms since epoch), read from the one parse of its payload. */
export interface VerifiedAccess extends AccessClaims {
  expiresAt: number
}

export interface AccessTokens {
  readonly ttlSec: number
  sign(claims: AccessClaims): Promise<string>
  /** Throws MsgrError('unauthenticated') when the token is expired, forged or malformed. */
  verify(token: string): Promise<VerifiedAccess>
}

export function createAccessTokens(options: AccessTokenOptions): AccessTokens {
  if (typeof options.secret !== 'string' || options.secret.length < MIN_JWT_SECRET_LENGTH) {
    throw new Error(`the JWT secret must be at least ${MIN_JWT_SECRET_LENGTH} characters long`)
  }
  const ttlSec = options.ttlSec ?? DEFAULT_ACCESS_TTL_SEC
  if (!Number.isInteger(ttlSec) || ttlSec <= 0) throw new Error(`access token TTL must be a positive integer, got ${ttlSec}`)
  // Imported into WebCrypto once: handed raw bytes, jose would import them again on every sign and verify.
  let key: Promise<webcrypto.CryptoKey> | undefined
  const hmacKey = (): Promise<webcrypto.CryptoKey> =>
    (key ??= webcrypto.subtle.importKey('raw', new TextEncoder().encode(options.secret), {name: 'HMAC', hash: 'SHA-256'}, false, ['sign', 'verify']))
  const clock = options.clock ?? systemClock

  return {
    ttlSec,
    async sign(claims) {
      const nowSec = Math.floor(clock.now() / 1000)
      return new SignJWT({did: claims.deviceId, sid: claims.sessionId})
        .setProtectedHeader({alg: 'HS256', typ: 'JWT'})
        .setSubject(claims.userId)
        .setIssuer(ACCESS_TOKEN_ISSUER)
        .setIssuedAt(nowSec)
        .setExpirationTime(nowSec + ttlSec)
        .sign(await hmacKey())
    },
    async verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw invalid()
      let payload: Record<string, unknown>
      const verifyKey = await hmacKey()
      try {
        ;({payload} = await jwtVerify(token, verifyKey, {
          algorithms: ['HS256'],
          issuer: ACCESS_TOKEN_ISSUER,
          requiredClaims: ['exp', 'sub'],
          currentDate: new Date(clock.now()),
        }))
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw new MsgrError('unauthenticated', 'access token expired; refresh it')
        throw invalid()
      }
      const {sub, did, sid, exp} = payload
      if (!isUuid(sub) || !isUuid(did) || !isUuid(sid)) throw invalid()
      // jwtVerify checked `exp` is a number (it is a required claim).
      return {userId: sub, deviceId: did, sessionId: sid, expiresAt: (exp as number) * 1000}
    },
  }
}

export interface RefreshToken {
  /** Handed to the client once; never stored. */
  token: string
  /** sha256 of the token: the only form the database keeps. */
  hash: Buffer
}

export function newRefreshToken(): RefreshToken {
  const token = randomBytes(REFRESH_TOKEN_BYTES).toString('base64url')
  return {token, hash: hashRefreshToken(token)}
}

export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest()
}

/** Cheap shape check so garbage never reaches the database. */
export function isRefreshTokenShaped(token: unknown): token is string {
  return typeof token === 'string' && REFRESH_TOKEN_PATTERN.test(token)
}

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value)
}

const REFRESH_TOKEN_BYTES = 32
// 32 bytes in unpadded base64url are exactly 43 characters.
const REFRESH_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
// Our tokens are ~300 bytes; refuse to parse anything absurd.
const MAX_TOKEN_LENGTH = 4096

function invalid(): MsgrError {
  return new MsgrError('unauthenticated', 'access token invalid')
}
