import webpush from 'web-push'

import type {PushProvider} from '../../core/push/provider.js'
import {bodyText, networkFailure, outcomeOfStatus} from './http-outcome.js'

export interface WebPushOptions {
  /** VAPID key pair (base64url, as `web-push generate-vapid-keys` prints them). */
  publicKey: string
  privateKey: string
  /** mailto: or https: contact the push service may use. */
  subject: string
  /** Seconds the push service keeps an undelivered notification (default 1 day). */
  ttlSec?: number
  timeoutMs?: number
}

/**
 * Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291): `web-push`
 * builds the request (headers, encrypted body), fetch sends it to the subscription's endpoint.
 */
export function createWebPushProvider(options: WebPushOptions): PushProvider {
  // Fails now, with the library's message, when the keys are malformed.
  webpush.setVapidDetails(options.subject, options.publicKey, options.privateKey)
  const vapidDetails = {subject: options.subject, publicKey: options.publicKey, privateKey: options.privateKey}
  return {
    name: 'webpush',
    async send(target, notification, data) {
      if (!target.subscription) return {ok: false, failure: 'rejected', reason: 'no Web Push subscription stored for this device'}
      const payload = JSON.stringify({title: notification.title, body: notification.body, count: notification.count, silent: notification.silent, data})
      let request: ReturnType<typeof webpush.generateRequestDetails>
      try {
        request = webpush.generateRequestDetails(target.subscription, payload, {
          vapidDetails,
          TTL: options.ttlSec ?? 86_400,
          urgency: notification.silent ? 'low' : 'high',
          contentEncoding: 'aes128gcm',
        })
      } catch (error) {
        // A subscription whose keys cannot be used will never work.
        return {ok: false, failure: 'expired', reason: `unusable subscription: ${error instanceof Error ? error.message : String(error)}`}
      }
      try {
        const res = await fetch(request.endpoint, {
          method: request.method,
          headers: request.headers as Record<string, string>,
          body: request.body as Buffer,
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        })
        const reason = res.ok ? '' : `push service answered ${res.status}: ${await bodyText(res)}`
        if (res.ok) await res.body?.cancel()
        return outcomeOfStatus(res.status, reason, res.headers.get('location') ?? undefined)
      } catch (error) {
        return networkFailure(error)
      }
    },
  }
}
