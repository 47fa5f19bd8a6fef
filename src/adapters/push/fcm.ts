import {importPKCS8, SignJWT} from 'jose'

import type {PushProvider} from '../../core/push/provider.js'
import {bodyText, networkFailure, outcomeOfStatus} from './http-outcome.js'

export interface FcmOptions {
  /** The Firebase service account key (the JSON file's content). */
  serviceAccount: {project_id: string; client_email: string; private_key: string; token_uri?: string}
  /** Default https://fcm.googleapis.com (tests point it at a local server). */
  baseUrl?: string
  /** OAuth2 token endpoint; default the service account's token_uri. */
  tokenUrl?: string
  timeoutMs?: number
}

const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging'

/** FCM HTTP v1: a service-account JWT traded for an OAuth2 access token, then POST …/messages:send. */
export function createFcmProvider(options: FcmOptions): PushProvider {
  const account = options.serviceAccount
  const baseUrl = (options.baseUrl ?? 'https://fcm.googleapis.com').replace(/\/$/, '')
  const tokenUrl = options.tokenUrl ?? account.token_uri ?? 'https://oauth2.googleapis.com/token'
  const timeoutMs = options.timeoutMs ?? 10_000
  let cached: {token: string; until: number} | undefined
  let pending: Promise<string> | undefined

  const accessToken = async (): Promise<string> => {
    if (cached && cached.until > Date.now()) return cached.token
    pending ??= (async () => {
      const key = await importPKCS8(account.private_key, 'RS256')
      const assertion = await new SignJWT({scope: SCOPE})
        .setProtectedHeader({alg: 'RS256', typ: 'JWT'})
        .setIssuer(account.client_email)
        .setSubject(account.client_email)
        .setAudience(tokenUrl)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(key)
      const res = await fetch(tokenUrl, {
        method: 'POST',
        headers: {'content-type': 'application/x-www-form-urlencoded'},
        body: new URLSearchParams({grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion}).toString(),
        signal: AbortSignal.timeout(timeoutMs),
      })
      if (!res.ok) throw new Error(`FCM token endpoint answered ${res.status}: ${await bodyText(res)}`)
      const body = (await res.json()) as {access_token?: string; expires_in?: number}
      if (!body.access_token) throw new Error('FCM token endpoint returned no access_token')
      cached = {token: body.access_token, until: Date.now() + Math.max(60, (body.expires_in ?? 3600) - 60) * 1000}
      return body.access_token
    })().finally(() => {
      pending = undefined
    })
    return pending
  }

  return {
    name: 'fcm',
    async send(target, notification, data) {
      try {
        const token = await accessToken()
        const res = await fetch(`${baseUrl}/v1/projects/${encodeURIComponent(account.project_id)}/messages:send`, {
          method: 'POST',
          headers: {authorization: `Bearer ${token}`, 'content-type': 'application/json'},
          body: JSON.stringify({
            message: {
              token: target.token,
              notification: {title: notification.title, body: notification.body},
              data: {...data, count: String(notification.count)},
              android: {priority: notification.silent ? 'normal' : 'high', notification: notification.silent ? {notification_priority: 'PRIORITY_LOW'} : {sound: 'default'}},
            },
          }),
          signal: AbortSignal.timeout(timeoutMs),
        })
        if (res.ok) {
          const body = (await res.json().catch(() => ({}))) as {name?: string}
          return outcomeOfStatus(res.status, '', body.name)
        }
        const text = await bodyText(res)
        if (res.status === 401) cached = undefined // the access token was refused: fetch a new one next time
        // An unregistered token can come back as 404 NOT_FOUND or as 400 with errorCode UNREGISTERED.
        if (text.includes('UNREGISTERED')) return {ok: false, failure: 'expired', status: res.status, reason: `FCM: ${text}`}
        return outcomeOfStatus(res.status === 401 ? 503 : res.status, `FCM answered ${res.status}: ${text}`)
      } catch (error) {
        return networkFailure(error)
      }
    },
  }
}
