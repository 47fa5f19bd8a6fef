import {randomUUID} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import webpush from 'web-push'

import type {MsgrClient} from '../../src/client/client.js'
import {decodeJob} from '../../src/core/push/job.js'
import type {WebPushSubscription} from '../../src/core/push/provider.js'
import type {PushHistoryView} from '../../src/protocol/frames.js'
import {availableLegs, LEGS, sleep, startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'
import {runMsgr} from '../helpers/processes.js'
import {type Person, person, waitMessage} from '../helpers/protocol.js'
import {findServices} from '../helpers/services.js'
import {type ApnsEndpoint, type FcmEndpoint, startApnsEndpoint, startFcmEndpoint, startWebPushEndpoint, type WebPushEndpoint} from '../helpers/push-endpoints.js'

// Push notifications end to end on both adapter sets: real WebSocket clients, the real notification
// worker and queue (memory / JetStream <NS>_PUSH + <NS>_PUSH_DLQ), and local endpoints that speak Web Push
// (payload decrypted per RFC 8291, VAPID checked), FCM HTTP v1 (OAuth2 + messages:send) and APNs (HTTP/2).

const available = await availableLegs()
const WINDOW_MS = 600

describe.each(LEGS)('push notifications on %s adapters', (leg) => {
  describe.runIf(available[leg])('offline devices', () => {
    let cluster: TestCluster
    let wp: WebPushEndpoint
    let fcm: FcmEndpoint
    let apns: ApnsEndpoint

    beforeAll(async () => {
      wp = await startWebPushEndpoint({...webpush.generateVAPIDKeys(), subject: 'mailto:ops@msgr.test'})
      fcm = await startFcmEndpoint()
      apns = await startApnsEndpoint()
      cluster = await startCluster(leg, {
        gateways: 2,
        workers: 1,
        config: {
          push: {
            windowMs: WINDOW_MS,
            ratePerMinute: 6000,
            burst: 1000,
            maxAttempts: 3,
            backoffBaseMs: 200,
            backoffMaxMs: 1000,
            ackWaitMs: 6000,
            sendTimeoutMs: 3000,
            webpush: wp.vapid,
            fcm: {serviceAccount: fcm.serviceAccount, baseUrl: fcm.url},
            apns: {...apns.key, baseUrl: apns.url},
          },
        },
      })
    })
    afterAll(async () => {
      await cluster?.stop()
      await Promise.all([wp?.close(), fcm?.close(), apns?.close()])
    })

    /** Another device of `of`'s user that registers for pushes, then goes offline (its route gone from the registry). */
    async function offlineDevice(of: Person, register: Record<string, unknown>): Promise<{deviceId: string}> {
      const pair = await cluster.login(of.pair.phone, `phone-${randomUUID().slice(0, 6)}`, 1)
      const c = await cluster.connect(pair, 1)
      await c.request('push.register', register)
      await c.close()
      await waitFor(async () => {
        const routes = await cluster.adaptersOf(cluster.gateways[1]!).registry.lookup([of.id])
        return ![...routes.values()].flat().some((r) => r.deviceId === pair.deviceId)
      })
      return {deviceId: pair.deviceId}
    }

    async function direct(a: Person, b: Person): Promise<string> {
      return ((await a.c.request('conv.direct', {with: b.id})) as {conversation: string}).conversation
    }

    const history = async (c: MsgrClient, device: string) => ((await c.request('push.history', {device})) as {history: PushHistoryView[]}).history
    const subId = (sub: WebPushSubscription) => sub.endpoint.split('/').pop()!
    const to = <T extends {token: string}>(list: T[], token: string) => list.filter((r) => r.token === token)

    it('a user with one online and one offline device: the online one gets the message, the offline one exactly one push', async () => {
      const a = await person(cluster, 0)
      const b = await person(cluster, 1)
      // The online device is registered too: it must not be pushed while its socket takes the event.
      const onlineToken = `fcm-${randomUUID()}`
      await b.c.request('push.register', {provider: 'fcm', token: onlineToken})
      const sub = wp.subscribe()
      const offline = await offlineDevice(b, {provider: 'webpush', subscription: sub})
      const conversation = await direct(a, b)

      const sent = await a.c.request('send', {conversation, clientMsgId: 'p1', kind: 'text', body: 'hello bob'})
      expect((await waitMessage(b.c, conversation, sent.seq)).body).toBe('hello bob')
      await waitFor(() => to(wp.received, subId(sub)).length > 0, 15_000)
      await sleep(WINDOW_MS + 800)

      const pushes = to(wp.received, subId(sub))
      expect(pushes).toHaveLength(1)
      expect(pushes[0]!.payload).toMatchObject({title: a.pair.phone, body: 'hello bob', count: 1, data: {conversation, seq: String(sent.seq)}})
      expect(pushes[0]!.headers.urgency).toBe('high')
      expect(to(fcm.received, onlineToken)).toHaveLength(0)

      // Delivery confirmation: the offline device's history, read from the other device.
      await waitFor(async () => (await history(b.c, offline.deviceId)).length > 0)
      expect(await history(b.c, offline.deviceId)).toMatchObject([{status: 'sent', provider: 'webpush', count: 1, conversations: [conversation], attempt: 1, body: 'hello bob'}])
      expect(await history(b.c, b.pair.deviceId)).toEqual([])
    })

    it('a burst from two senders becomes one notification (APNs over HTTP/2)', async () => {
      const [a, c, b] = await Promise.all([person(cluster, 0), person(cluster, 0), person(cluster, 1)])
      const token = randomUUID().replaceAll('-', '')
      const offline = await offlineDevice(b, {provider: 'apns', token})
      const [ab, cb] = await Promise.all([direct(a, b), direct(c, b)])
      await a.c.request('send', {conversation: ab, clientMsgId: 'b1', kind: 'text', body: 'one'})
      await c.c.request('send', {conversation: cb, clientMsgId: 'b2', kind: 'text', body: 'two'})
      await a.c.request('send', {conversation: ab, clientMsgId: 'b3', kind: 'text', body: 'three'})

      await waitFor(() => to(apns.received, token).length > 0, 15_000)
      await sleep(WINDOW_MS + 800)
      const pushes = to(apns.received, token)
      expect(pushes).toHaveLength(1)
      const aps = pushes[0]!.payload.aps as {alert: {title: string; body: string}; badge: number}
      expect(aps.alert.title).toBe('3 new messages')
      expect(aps.alert.body).toBe(`3 new messages from ${a.pair.phone}, ${c.pair.phone}`)
      expect(aps.badge).toBe(3)
      expect(pushes[0]!.headers['apns-topic']).toBe(apns.key.topic)
      expect((await history(b.c, offline.deviceId))[0]).toMatchObject({status: 'sent', provider: 'apns', count: 3})
    })

    it('a muted conversation sends no push; another conversation still does (FCM HTTP v1)', async () => {
      const [a, c, b] = await Promise.all([person(cluster, 0), person(cluster, 0), person(cluster, 1)])
      const token = `fcm-${randomUUID()}`
      await offlineDevice(b, {provider: 'fcm', token})
      const [muted, open] = await Promise.all([direct(a, b), direct(c, b)])
      await b.c.request('conv.settings', {conversation: muted, muted: true})

      await a.c.request('send', {conversation: muted, clientMsgId: 'm1', kind: 'text', body: 'shh'})
      await waitMessage(b.c, muted, 1)
      await sleep(WINDOW_MS + 800)
      await c.c.request('send', {conversation: open, clientMsgId: 'm2', kind: 'text', body: 'ping'})
      await waitFor(() => to(fcm.received, token).length > 0, 15_000)
      await sleep(WINDOW_MS + 800)

      const pushes = to(fcm.received, token)
      expect(pushes).toHaveLength(1)
      expect(pushes[0]!.payload).toMatchObject({token, notification: {title: c.pair.phone, body: 'ping'}, data: {conversation: open, count: '1'}})
    })

    it('a failing provider is retried with backoff, then dead-lettered with nothing lost; a re-drive delivers it', async () => {
      const [a, b] = await Promise.all([person(cluster, 0), person(cluster, 1)])
      const sub = wp.subscribe()
      wp.answer.set(subId(sub), 500)
      const offline = await offlineDevice(b, {provider: 'webpush', subscription: sub})
      const conversation = await direct(a, b)
      await a.c.request('send', {conversation, clientMsgId: 'f1', kind: 'text', body: 'doomed at first'})

      const queue = cluster.adaptersOf(cluster.workers[0]!).pushQueue
      const ours = async () => (await queue.listDead(1000)).filter((d) => decodeJob(d.data)?.device === offline.deviceId)
      await waitFor(async () => (await ours()).length > 0, 20_000)
      const [letter] = await ours()
      expect(letter).toMatchObject({attempts: 3})
      expect(letter!.reason).toMatch(/transient: push service answered 500/)
      expect(decodeJob(letter!.data)).toMatchObject({conversation, seq: 1, preview: 'doomed at first', user: b.id})
      expect(to(wp.received, subId(sub)).map((r) => r.status)).toEqual([500, 500, 500])
      expect((await history(b.c, offline.deviceId)).map((h) => [h.status, h.attempt])).toEqual([
        ['dead_lettered', 3],
        ['retrying', 2],
        ['retrying', 1],
      ])

      // The provider recovers: the operator re-drives the dead letters and the notification goes out
      // (services leg: with the real binary, `msgr push dead-letters --redrive`).
      wp.answer.delete(subId(sub))
      if (leg === 'services') {
        const env = {MSGR_NATS_URL: (await findServices()).nats!, MSGR_NAMESPACE: cluster.workers[0]!.config.namespace}
        const listed = await runMsgr(['push', 'dead-letters', '--json'], env)
        expect(listed.code, listed.stderr).toBe(0)
        expect((JSON.parse(listed.stdout) as {deadLetters: Array<{device: string; attempts: number}>}).deadLetters).toContainEqual(expect.objectContaining({device: offline.deviceId, attempts: 3}))
        const redriven = await runMsgr(['push', 'dead-letters', '--redrive', '--json'], env)
        expect(redriven.code, redriven.stderr).toBe(0)
        expect((JSON.parse(redriven.stdout) as {redriven: number}).redriven).toBeGreaterThanOrEqual(1)
      } else {
        expect(await queue.redrive()).toBeGreaterThanOrEqual(1)
      }
      await waitFor(() => to(wp.received, subId(sub)).some((r) => r.status === 201), 15_000)
      expect(to(wp.received, subId(sub)).at(-1)!.payload).toMatchObject({body: 'doomed at first'})
      await waitFor(async () => (await history(b.c, offline.deviceId))[0]?.status === 'sent')
      expect(await ours()).toEqual([])
    })

    it('an expired token (FCM UNREGISTERED) is removed and recorded', async () => {
      const [a, b] = await Promise.all([person(cluster, 0), person(cluster, 1)])
      const token = `fcm-gone-${randomUUID()}`
      fcm.answer.set(token, 404)
      const offline = await offlineDevice(b, {provider: 'fcm', token})
      await a.c.request('send', {conversation: await direct(a, b), clientMsgId: 'e1', kind: 'text', body: 'anyone?'})
      await waitFor(async () => (await history(b.c, offline.deviceId))[0]?.status === 'token_removed', 15_000)
      const devices = ((await b.c.request('device.list')) as {devices: Array<{device: string; push: string | null}>}).devices
      expect(devices.find((d) => d.device === offline.deviceId)?.push).toBeNull()
      expect(to(fcm.received, token)).toHaveLength(1)
    })

    it('a device that disconnects while the message is in flight still gets its push (reported by the gateway)', async () => {
      const [a, b] = await Promise.all([person(cluster, 0), person(cluster, 1)])
      const sub = wp.subscribe()
      const offline = await offlineDevice(b, {provider: 'webpush', subscription: sub})
      // The race, made exact: the registry still names the device on gateway 1 (as it does between a
      // socket closing and its route being removed), but gateway 1 no longer has a socket for it.
      const gw1 = cluster.gateways[1]!
      await cluster.adaptersOf(gw1).registry.add({userId: b.id, deviceId: offline.deviceId, connId: `stale-${randomUUID()}`, nodeId: gw1.config.nodeId})
      const conversation = await direct(a, b)
      await a.c.request('send', {conversation, clientMsgId: 'r1', kind: 'text', body: 'just missed you'})
      await waitFor(() => to(wp.received, subId(sub)).length > 0, 15_000)
      expect(to(wp.received, subId(sub))[0]!.payload).toMatchObject({body: 'just missed you'})
      const metrics = await gw1.metrics.registry.getSingleMetricAsString('msgr_push_queued_total')
      expect(metrics).toMatch(/msgr_push_queued_total\{source="gateway"[^}]*\} [1-9]/)
      await waitFor(async () => (await history(b.c, offline.deviceId))[0]?.status === 'sent')
    })
  })

  describe.runIf(available[leg])('rate limit per device', () => {
    let cluster: TestCluster
    let wp: WebPushEndpoint

    beforeAll(async () => {
      wp = await startWebPushEndpoint({...webpush.generateVAPIDKeys(), subject: 'mailto:ops@msgr.test'})
      // One notification, then one more every 2 s at most.
      cluster = await startCluster(leg, {config: {push: {windowMs: 100, burst: 1, ratePerMinute: 30, webpush: wp.vapid}}})
    })
    afterAll(async () => {
      await cluster?.stop()
      await wp?.close()
    })

    it('notifications over the limit are held and folded into the next one, not dropped', async () => {
      const [a, b] = await Promise.all([person(cluster, 0), person(cluster, 0)])
      const sub = wp.subscribe()
      const pair = await cluster.login(b.pair.phone, 'tablet', 0)
      const tablet = await cluster.connect(pair, 0)
      await tablet.request('push.register', {provider: 'webpush', subscription: sub})
      await tablet.close()
      await waitFor(async () => ![...(await cluster.adaptersOf(cluster.gateways[0]!).registry.lookup([b.id])).values()].flat().some((r) => r.deviceId === pair.deviceId))
      const conversation = ((await a.c.request('conv.direct', {with: b.id})) as {conversation: string}).conversation
      const mine = () => wp.received.filter((r) => r.token === sub.endpoint.split('/').pop())

      await a.c.request('send', {conversation, clientMsgId: 'r1', kind: 'text', body: 'first'})
      await waitFor(() => mine().length === 1, 15_000)
      // Each of these would be its own notification (more than a window apart), but the bucket is empty.
      for (const [i, body] of ['second', 'third'].entries()) {
        await sleep(300)
        await a.c.request('send', {conversation, clientMsgId: `r${i + 2}`, kind: 'text', body})
      }
      await waitFor(() => mine().length === 2, 15_000)
      await sleep(2500)
      expect(mine().map((r) => [r.payload.count, r.payload.body])).toEqual([
        [1, 'first'],
        [2, `2 new messages from ${a.pair.phone}`],
      ])
    })
  })
})
