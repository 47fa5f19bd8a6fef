import {describe, expect, it} from 'vitest'

import type {AuthService} from '../../../src/core/auth/auth-service.js'
import type {VerifiedAccess} from '../../../src/core/auth/tokens.js'
import {MsgrError} from '../../../src/errors.js'
import {createSessionVerifier} from '../../../src/server/gateway/access-tokens.js'

const ACCESS: VerifiedAccess = {
  userId: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b',
  deviceId: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7c',
  sessionId: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7d',
  expiresAt: Date.UTC(2030, 0, 1),
}

describe('createSessionVerifier', () => {
  it('takes the expiry from verify (the token is parsed once) and checks the session once', async () => {
    const {auth, checks} = fakeAuth(true)
    // An opaque token: the verifier must not parse it again itself.
    expect(await createSessionVerifier(auth)('opaque-token')).toEqual(ACCESS)
    expect(checks).toEqual([{sessionId: ACCESS.sessionId, of: {userId: ACCESS.userId, deviceId: ACCESS.deviceId}}])
  })

  it('refuses a revoked session and reports an unreachable store as unavailable', async () => {
    await expect(createSessionVerifier(fakeAuth(false).auth)('t')).rejects.toMatchObject({code: 'unauthenticated'})
    const down = fakeAuth(new Error('connection refused'))
    const error = await createSessionVerifier(down.auth)('t').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MsgrError)
    expect((error as MsgrError).code).toBe('unavailable')
  })
})

function fakeAuth(active: boolean | Error): {auth: AuthService; checks: unknown[]} {
  const checks: unknown[] = []
  const auth = {
    verifyAccessToken: async () => ({...ACCESS}),
    isSessionActive: async (sessionId: string, of?: unknown) => {
      checks.push({sessionId, of})
      if (active instanceof Error) throw active
      return active
    },
  } as Partial<AuthService> as AuthService
  return {auth, checks}
}
