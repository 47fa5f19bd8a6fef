import {SignJWT, UnsecuredJWT} from 'jose'
import {describe, expect, it, vi} from 'vitest'

import {createAccessTokens, hashRefreshToken, isRefreshTokenShaped, newRefreshToken, type AccessClaims} from '../../src/core/auth/tokens.js'
import {MsgrError} from '../../src/errors.js'

const SECRET = 'unit-test-secret-with-at-least-32-chars!'
const CLAIMS: AccessClaims = {
  userId: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b',
  deviceId: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7c',
  sessionId: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7d',
}

describe('access tokens', () => {
  it('round-trips the claims and reports the expiry in ms', async () => {
    const now = Date.UTC(2030, 0, 1)
    const tokens = createAccessTokens({secret: SECRET, clock: {now: () => now}})
    expect(tokens.ttlSec).toBe(900)
    expect(await tokens.verify(await tokens.sign(CLAIMS))).toEqual({...CLAIMS, expiresAt: now + 900_000})
  })

  it('imports the HMAC key into WebCrypto once, not per sign or verify', async () => {
    const importKey = vi.spyOn(crypto.subtle, 'importKey')
    try {
      const tokens = createAccessTokens({secret: SECRET})
      for (let i = 0; i < 5; i++) await tokens.verify(await tokens.sign(CLAIMS))
      await expectUnauthenticated(tokens.verify(await createAccessTokens({secret: `${SECRET}-other`}).sign(CLAIMS)), /invalid/)
      // One import for `tokens`, one for the other issuer.
      expect(importKey).toHaveBeenCalledTimes(2)
    } finally {
      importKey.mockRestore()
    }
  })

  it('carries sub, did, sid, iss and exp = now + ttl', async () => {
    const now = Date.UTC(2030, 0, 1)
    const tokens = createAccessTokens({secret: SECRET, ttlSec: 120, clock: {now: () => now}})
    const token = await tokens.sign(CLAIMS)
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
    expect(header.alg).toBe('HS256')
    expect(payload).toMatchObject({sub: CLAIMS.userId, did: CLAIMS.deviceId, sid: CLAIMS.sessionId, iss: 'msgr', exp: now / 1000 + 120})
  })

  it('reports an expired token as expired', async () => {
    let now = Date.now()
    const tokens = createAccessTokens({secret: SECRET, ttlSec: 60, clock: {now: () => now}})
    const token = await tokens.sign(CLAIMS)
    now += 59_000
    await expect(tokens.verify(token)).resolves.toMatchObject(CLAIMS)
    now += 2_000
    await expectUnauthenticated(tokens.verify(token), /expired/)
  })

  it('refuses tampered, foreign, unsigned and garbage tokens as invalid', async () => {
    const tokens = createAccessTokens({secret: SECRET})
    const token = await tokens.sign(CLAIMS)
    const [header, payload, signature] = token.split('.')
    const forgedPayload = Buffer.from(JSON.stringify({...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: CLAIMS.deviceId})).toString('base64url')
    await expectUnauthenticated(tokens.verify(`${header}.${forgedPayload}.${signature}`), /invalid/)

    const other = createAccessTokens({secret: `${SECRET}-other`})
    await expectUnauthenticated(tokens.verify(await other.sign(CLAIMS)), /invalid/)

    const unsigned = new UnsecuredJWT({did: CLAIMS.deviceId, sid: CLAIMS.sessionId}).setSubject(CLAIMS.userId).setIssuer('msgr').setExpirationTime('1h').encode()
    await expectUnauthenticated(tokens.verify(unsigned), /invalid/)

    for (const garbage of ['', 'abc', 'a.b.c', 'x'.repeat(10_000), 42 as unknown as string]) {
      await expectUnauthenticated(tokens.verify(garbage), /invalid/)
    }
  })

  it('refuses a wrong issuer or missing device/session claims', async () => {
    const tokens = createAccessTokens({secret: SECRET})
    const key = new TextEncoder().encode(SECRET)
    const wrongIssuer = await new SignJWT({did: CLAIMS.deviceId, sid: CLAIMS.sessionId})
      .setProtectedHeader({alg: 'HS256'})
      .setSubject(CLAIMS.userId)
      .setIssuer('someone-else')
      .setExpirationTime('1h')
      .sign(key)
    await expectUnauthenticated(tokens.verify(wrongIssuer), /invalid/)
    const noSession = await new SignJWT({did: CLAIMS.deviceId})
      .setProtectedHeader({alg: 'HS256'})
      .setSubject(CLAIMS.userId)
      .setIssuer('msgr')
      .setExpirationTime('1h')
      .sign(key)
    await expectUnauthenticated(tokens.verify(noSession), /invalid/)
  })

  it('rejects a short secret and a bad TTL with a clear error', () => {
    expect(() => createAccessTokens({secret: 'short'})).toThrow(/at least 32 characters/)
    expect(() => createAccessTokens({secret: SECRET, ttlSec: 0})).toThrow(/positive integer/)
  })
})

describe('refresh tokens', () => {
  it('are 32 random bytes in base64url, hashed with sha256', () => {
    const a = newRefreshToken()
    const b = newRefreshToken()
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(Buffer.from(a.token, 'base64url')).toHaveLength(32)
    expect(a.token).not.toBe(b.token)
    expect(a.hash).toHaveLength(32)
    expect(hashRefreshToken(a.token).equals(a.hash)).toBe(true)
    expect(isRefreshTokenShaped(a.token)).toBe(true)
    expect(isRefreshTokenShaped(`${a.token}=`)).toBe(false)
    expect(isRefreshTokenShaped(undefined)).toBe(false)
  })
})

async function expectUnauthenticated(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(MsgrError)
  expect((error as MsgrError).code).toBe('unauthenticated')
  expect((error as MsgrError).message).toMatch(message)
}
