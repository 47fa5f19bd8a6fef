import {connect, constants, type ClientHttp2Session} from 'node:http2'

import {importPKCS8, SignJWT} from 'jose'

import type {PushOutcome, PushProvider} from '../../core/push/provider.js'
import {networkFailure, outcomeOfStatus} from './http-outcome.js'

export interface ApnsOptions {
  /** Key id and team id of the .p8 signing key. */
  keyId: string
  teamId: string
  /** The .p8 key (PKCS#8 PEM, P-256). */
  privateKey: string
  /** The app's bundle id (apns-topic). */
  topic: string
  /** Default https://api.push.apple.com (sandbox: https://api.sandbox.push.apple.com; tests: a local h2c server). */
  baseUrl?: string
  timeoutMs?: number
}

// Apple rejects a provider token older than an hour and throttles refreshing it more than every 20 minutes.
const TOKEN_REFRESH_MS = 40 * 60_000

/** APNs with token-based authentication (ES256 provider JWT) over HTTP/2: POST /3/device/<token>. */
export function createApnsProvider(options: ApnsOptions): PushProvider {
  const baseUrl = options.baseUrl ?? 'https://api.push.apple.com'
  const timeoutMs = options.timeoutMs ?? 10_000
  let session: ClientHttp2Session | undefined
  let jwt: {token: string; at: number} | undefined

  const providerToken = async (): Promise<string> => {
    if (jwt && Date.now() - jwt.at < TOKEN_REFRESH_MS) return jwt.token
    const key = await importPKCS8(options.privateKey, 'ES256')
    const token = await new SignJWT({}).setProtectedHeader({alg: 'ES256', kid: options.keyId}).setIssuer(options.teamId).setIssuedAt().sign(key)
    jwt = {token, at: Date.now()}
    return token
  }

  const connection = (): ClientHttp2Session => {
    if (session && !session.closed && !session.destroyed) return session
    const opened = connect(baseUrl)
    opened.on('error', () => opened.destroy())
    opened.on('close', () => {
      if (session === opened) session = undefined
    })
    opened.unref()
    session = opened
    return opened
  }

  return {
    name: 'apns',
    async send(target, notification, data) {
      try {
        const authorization = `bearer ${await providerToken()}`
        const body = JSON.stringify({
          aps: {
            alert: {title: notification.title, body: notification.body},
            ...(notification.silent ? {} : {sound: 'default'}),
            'thread-id': notification.conversations[0],
            badge: notification.count,
          },
          ...data,
        })
        const outcome = await request(connection(), target.token, body, {
          authorization,
          'apns-topic': options.topic,
          'apns-push-type': 'alert',
          'apns-priority': notification.silent ? '5' : '10',
        }, timeoutMs)
        // An expired or refused provider token is ours to renew, not the device's fault.
        if (!outcome.ok && /ExpiredProviderToken|InvalidProviderToken/.test(outcome.reason)) {
          jwt = undefined
          return {...outcome, failure: 'transient'}
        }
        return outcome
      } catch (error) {
        return networkFailure(error)
      }
    },
    async close() {
      session?.close()
    },
  }
}

function request(session: ClientHttp2Session, deviceToken: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<PushOutcome> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: `/3/device/${encodeURIComponent(deviceToken)}`,
      'content-type': 'application/json',
      ...headers,
    })
    req.setTimeout(timeoutMs, () => req.close(constants.NGHTTP2_CANCEL))
    let status = 0
    let apnsId: string | undefined
    const chunks: Buffer[] = []
    req.on('response', (h) => {
      status = Number(h[constants.HTTP2_HEADER_STATUS])
      apnsId = typeof h['apns-id'] === 'string' ? h['apns-id'] : undefined
    })
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('error', reject)
    req.on('close', () => {
      if (status === 0) return reject(new Error('APNs stream closed without a response'))
      const text = Buffer.concat(chunks).toString('utf8').slice(0, 300)
      const reason = (() => {
        try {
          return (JSON.parse(text) as {reason?: string}).reason ?? text
        } catch {
          return text
        }
      })()
      // BadDeviceToken / DeviceTokenNotForTopic: this token will never work.
      if (status === 400 && /BadDeviceToken|DeviceTokenNotForTopic/.test(reason)) return resolve({ok: false, failure: 'expired', status, reason: `APNs: ${reason}`})
      resolve(outcomeOfStatus(status, status === 200 ? '' : `APNs answered ${status}: ${reason}`, apnsId))
    })
    req.end(body)
  })
}
