import type {AuthService} from '../../core/auth/auth-service.js'
import {MsgrError} from '../../errors.js'
import type {Identity} from './connection.js'

// How a gateway checks an access token, for the WebSocket upgrade and for authenticated HTTP routes alike:
// a valid signature is not enough, the session must not have been revoked.

export type AccessVerifier = (token: string) => Promise<Identity>

export function createSessionVerifier(auth: AuthService): AccessVerifier {
  return async (token) => {
    // expiresAt comes from the payload verify already parsed: sockets are closed with 4401 then.
    const {userId, deviceId, sessionId, expiresAt} = await auth.verifyAccessToken(token)
    // One query, no transaction, on every connect: revocation takes effect immediately.
    const active = await auth.isSessionActive(sessionId, {userId, deviceId}).catch(() => {
      throw new MsgrError('unavailable', 'cannot check the session right now; retry')
    })
    if (!active) throw new MsgrError('unauthenticated', 'session revoked; log in again')
    return {userId, deviceId, sessionId, expiresAt}
  }
}

/** The token of `Authorization: Bearer <token>`, else of `?access_token=` when a URL is given. */
export function bearerToken(header: string | undefined, url?: URL): string | undefined {
  if (header?.startsWith('Bearer ')) return header.slice(7).trim() || undefined
  return url?.searchParams.get('access_token') ?? undefined
}
