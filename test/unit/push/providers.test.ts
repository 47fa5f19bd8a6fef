import {randomUUID} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import webpush from 'web-push'

import {createApnsProvider} from '../../../src/adapters/push/apns.js'
import {createFcmProvider} from '../../../src/adapters/push/fcm.js'
import {createWebPushProvider} from '../../../src/adapters/push/web-push.js'
import type {PushProvider} from '../../../src/core/push/provider.js'
import type {Notification} from '../../../src/core/push/summary.js'
import {type ApnsEndpoint, type FcmEndpoint, startApnsEndpoint, startFcmEndpoint, startWebPushEndpoint, type WebPushEndpoint} from '../../helpers/push-endpoints.js'

// Each provider adapter against a local endpoint speaking its protocol: what it sends, and how it reads
// every kind of answer (accepted / token expired / refused for good / transient).

const note: Notification = {title: 'Alice', body: 'hi', count: 1, conversations: ['c1'], latest: {c1: 3}, silent: false}
const data = {conversation: 'c1', seq: '3'}

describe('push provider adapters', () => {
  let wp: WebPushEndpoint
  let fcm: FcmEndpoint
  let apns: ApnsEndpoint
  let providers: {webpush: PushProvider; fcm: PushProvider; apns: PushProvider}

  beforeAll(async () => {
    wp = await startWebPushEndpoint({...webpush.generateVAPIDKeys(), subject: 'mailto:ops@msgr.test'})
    fcm = await startFcmEndpoint()
    apns = await startApnsEndpoint()
    providers = {
      webpush: createWebPushProvider({...wp.vapid, timeoutMs: 2000}),
      fcm: createFcmProvider({serviceAccount: fcm.serviceAccount, baseUrl: fcm.url, timeoutMs: 2000}),
      apns: createApnsProvider({...apns.key, baseUrl: apns.url, timeoutMs: 2000}),
    }
  })
  afterAll(async () => {
    await providers.apns.close?.()
    await Promise.all([wp.close(), fcm.close(), apns.close()])
  })

  it('Web Push: encrypted payload with VAPID; 201 accepted, 404/410 expired, 400 rejected, 5xx and network transient', async () => {
    const sub = wp.subscribe()
    const id = sub.endpoint.split('/').pop()!
    const target = {provider: 'webpush' as const, token: sub.endpoint, subscription: sub}
    const ok = await providers.webpush.send(target, {...note, silent: true}, data)
    expect(ok).toMatchObject({ok: true, id: expect.stringContaining('/messages/')})
    expect(wp.received.at(-1)).toMatchObject({token: id, payload: {title: 'Alice', body: 'hi', count: 1, silent: true, data}})
    expect(wp.received.at(-1)!.headers.urgency).toBe('low')
    for (const [status, failure] of [[410, 'expired'], [404, 'expired'], [400, 'rejected'], [429, 'transient'], [503, 'transient']] as const) {
      wp.answer.set(id, status)
      expect(await providers.webpush.send(target, note, data), String(status)).toMatchObject({ok: false, failure, status})
    }
    const gone = {...target, subscription: {...sub, endpoint: 'http://127.0.0.1:1/push/x'}}
    expect(await providers.webpush.send(gone, note, data)).toMatchObject({ok: false, failure: 'transient'})
    expect(await providers.webpush.send({provider: 'webpush', token: 'x'}, note, data)).toMatchObject({ok: false, failure: 'rejected'})
  })

  it('FCM HTTP v1: one OAuth2 token for many sends; UNREGISTERED expired, 5xx transient', async () => {
    const token = `fcm-${randomUUID()}`
    const before = fcm.tokensIssued
    expect(await providers.fcm.send({provider: 'fcm', token}, note, data)).toMatchObject({ok: true, id: expect.stringMatching(/^projects\//)})
    expect(await providers.fcm.send({provider: 'fcm', token}, note, data)).toMatchObject({ok: true})
    expect(fcm.tokensIssued - before).toBe(1)
    expect(fcm.received.at(-1)!.payload).toMatchObject({token, notification: {title: 'Alice', body: 'hi'}, data: {...data, count: '1'}, android: {priority: 'high'}})
    fcm.answer.set(token, 404)
    expect(await providers.fcm.send({provider: 'fcm', token}, note, data)).toMatchObject({ok: false, failure: 'expired'})
    fcm.answer.set(token, 503)
    expect(await providers.fcm.send({provider: 'fcm', token}, note, data)).toMatchObject({ok: false, failure: 'transient', status: 503})
  })

  it('APNs over HTTP/2: ES256 provider token, topic and priority headers; 410 expired, 5xx transient', async () => {
    const token = randomUUID().replaceAll('-', '')
    expect(await providers.apns.send({provider: 'apns', token}, note, data)).toMatchObject({ok: true, id: expect.any(String)})
    const got = apns.received.at(-1)!
    expect(got.headers).toMatchObject({'apns-topic': apns.key.topic, 'apns-push-type': 'alert', 'apns-priority': '10'})
    expect(got.payload).toMatchObject({aps: {alert: {title: 'Alice', body: 'hi'}, sound: 'default', 'thread-id': 'c1', badge: 1}, ...data})
    await providers.apns.send({provider: 'apns', token}, {...note, silent: true}, data)
    expect(apns.received.at(-1)!.headers['apns-priority']).toBe('5')
    expect(apns.received.at(-1)!.payload.aps).not.toHaveProperty('sound')
    apns.answer.set(token, 410)
    expect(await providers.apns.send({provider: 'apns', token}, note, data)).toMatchObject({ok: false, failure: 'expired', status: 410})
    apns.answer.set(token, 500)
    expect(await providers.apns.send({provider: 'apns', token}, note, data)).toMatchObject({ok: false, failure: 'transient', status: 500})
  })
})
