import {randomUUID} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MsgrClient, postJson} from '../../src/client/client.js'
import type {DeviceListEntry} from '../../src/protocol/frames.js'
import {availableLegs, LEGS, startCluster, type TestCluster, waitFor} from '../helpers/cluster.js'
import {expectCode, otherDevice, person} from '../helpers/protocol.js'

// Device management through the real protocol: the OTP login creates a device; device.list, .rename and
// .logout; per-device push registration and notification preferences. Logging a device out revokes its
// refresh token, refuses its access token on new connections and closes its open sockets (4401).

const available = await availableLegs()

describe.each(LEGS)('devices on %s adapters', (leg) => {
  describe.runIf(available[leg])('management', () => {
    let cluster: TestCluster

    beforeAll(async () => {
      // Only the log provider: push.register for the others is refused.
      cluster = await startCluster(leg, {gateways: 2, workers: 1, config: {push: {log: true}}})
    })
    afterAll(async () => {
      await cluster?.stop()
    })

    const list = async (c: MsgrClient) => ((await c.request('device.list')) as {devices: DeviceListEntry[]}).devices

    it('every login is a device: listed, renamed by any device of the user, never by another user', async () => {
      const laptop = await person(cluster, 0)
      const phone = await otherDevice(cluster, laptop, 1, {device: 'Ana’s phone', expectSameUser: true})
      const stranger = await person(cluster, 0)

      const devices = await list(laptop.c)
      expect(devices.map((d) => [d.device, d.name, d.platform, d.current])).toEqual([
        [laptop.pair.deviceId, 'test-device', 'test', true],
        [phone.pair.deviceId, 'Ana’s phone', 'test', false],
      ])
      expect(devices[0]).toMatchObject({push: null, prefs: {enabled: true, previews: true, quietHours: null}})

      expect(await laptop.c.request('device.rename', {device: phone.pair.deviceId, name: 'Work phone'})).toEqual({})
      expect(await phone.c.request('device.rename', {name: 'Home laptop', device: laptop.pair.deviceId})).toEqual({})
      expect((await list(phone.c)).map((d) => d.name)).toEqual(['Home laptop', 'Work phone'])

      await expectCode(stranger.c.request('device.rename', {device: phone.pair.deviceId, name: 'mine now'}), 'not_found')
      await expectCode(stranger.c.request('device.logout', {device: phone.pair.deviceId}), 'not_found')
      await expectCode(stranger.c.request('push.history', {device: phone.pair.deviceId}), 'not_found')
      await expectCode(laptop.c.request('device.rename', {name: '   '}), 'invalid_request')
      expect(await list(stranger.c)).toHaveLength(1)
    })

    it('push registration per device: configured providers only, validated, replaced, removed', async () => {
      const p = await person(cluster, 0)
      await expectCode(p.c.request('push.register', {provider: 'fcm', token: 'abc'}), 'push_provider_unavailable')
      await expectCode(p.c.request('push.register', {provider: 'pigeon', token: 'abc'}), 'invalid_request')
      await expectCode(p.c.request('push.register', {provider: 'webpush', subscription: {endpoint: 'ftp://x', keys: {p256dh: 'a', auth: 'b'}}}), 'invalid_request')
      await expectCode(p.c.request('push.register', {provider: 'log'}), 'invalid_request')

      expect(await p.c.request('push.register', {provider: 'log', token: `t-${randomUUID()}`})).toEqual({})
      expect((await list(p.c))[0]!.push).toBe('log')
      // The same token registered by another device moves there.
      const shared = `t-${randomUUID()}`
      const other = await otherDevice(cluster, p, 0)
      await p.c.request('push.register', {provider: 'log', token: shared})
      await other.c.request('push.register', {provider: 'log', token: shared})
      expect((await list(p.c)).map((d) => d.push)).toEqual([null, 'log'])
      expect(await other.c.request('push.unregister')).toEqual({})
      expect((await list(p.c)).map((d) => d.push)).toEqual([null, null])
    })

    it('notification preferences per device: read, patched, validated', async () => {
      const p = await person(cluster, 0)
      const other = await otherDevice(cluster, p, 0)
      expect(await p.c.request('notify.prefs')).toEqual({device: p.pair.deviceId, prefs: {enabled: true, previews: true, quietHours: null}})
      expect(await p.c.request('notify.prefs', {previews: false, quietHours: {start: '22:30', end: '07:00', utcOffsetMin: 60}})).toEqual({
        device: p.pair.deviceId,
        prefs: {enabled: true, previews: false, quietHours: {start: '22:30', end: '07:00', utcOffsetMin: 60}},
      })
      expect((await p.c.request('notify.prefs', {enabled: false})) as object).toMatchObject({prefs: {enabled: false, previews: false}})
      expect((await p.c.request('notify.prefs', {quietHours: null})) as object).toMatchObject({prefs: {quietHours: null}})
      // Another device's preferences are its own.
      expect(await other.c.request('notify.prefs')).toMatchObject({prefs: {enabled: true, previews: true}})
      await expectCode(p.c.request('notify.prefs', {quietHours: {start: '25:00', end: '07:00'}}), 'invalid_request')
      expect((await list(other.c)).find((d) => d.device === p.pair.deviceId)?.prefs).toEqual({enabled: false, previews: false, quietHours: null})
    })

    it('device.logout revokes the refresh token and the access token, and closes the device’s sockets', async () => {
      const main = await person(cluster, 0)
      const lost = await otherDevice(cluster, main, 1, {device: 'lost phone'})
      const lostAgain = await cluster.connect(lost.pair, 0) // a second socket of the same device, elsewhere
      await lost.c.request('push.register', {provider: 'log', token: `t-${randomUUID()}`})
      const closed = Promise.all([lost.c, lostAgain].map((c) => new Promise<number>((resolve) => c.once('close', (code) => resolve(code)))))

      expect(await main.c.request('device.logout', {device: lost.pair.deviceId})).toEqual({})
      expect(await closed).toEqual([4401, 4401])
      expect((await list(main.c)).map((d) => d.device)).toEqual([main.pair.deviceId])
      await expectCode(postJson(cluster.gateways[0]!.url, '/v1/auth/refresh', {refreshToken: lost.pair.refreshToken}), 'invalid_refresh_token')
      await expectCode(MsgrClient.connect(cluster.gateways[1]!.url, lost.pair.accessToken), 'unauthenticated')
      // Idempotent.
      expect(await main.c.request('device.logout', {device: lost.pair.deviceId})).toEqual({})
      // The other device is untouched: it still refreshes.
      const refreshed = await postJson<{deviceId: string}>(cluster.gateways[0]!.url, '/v1/auth/refresh', {refreshToken: main.pair.refreshToken})
      expect(refreshed.deviceId).toBe(main.pair.deviceId)
    })

    it('a refresh token used twice revokes its session and closes that device’s sockets on every gateway', async () => {
      const owner = await person(cluster, 0)
      const stolen = await otherDevice(cluster, owner, 1, {device: 'phone with a stolen token'})
      const elsewhere = await cluster.connect(stolen.pair, 0)
      const closed = Promise.all([stolen.c, elsewhere].map((c) => new Promise<number>((resolve) => c.once('close', (code) => resolve(code)))))
      let ownerClosed = false
      owner.c.once('close', () => (ownerClosed = true))

      // The thief refreshes first; the owner's later use of the same token is the reuse.
      await postJson(cluster.gateways[1]!.url, '/v1/auth/refresh', {refreshToken: stolen.pair.refreshToken})
      await expectCode(postJson(cluster.gateways[0]!.url, '/v1/auth/refresh', {refreshToken: stolen.pair.refreshToken}), 'invalid_refresh_token')
      expect(await closed).toEqual([4401, 4401])
      await expectCode(MsgrClient.connect(cluster.gateways[0]!.url, stolen.pair.accessToken), 'unauthenticated')
      // The user's other device is not touched.
      expect(await owner.c.request('device.list')).toBeTruthy()
      expect(ownerClosed).toBe(false)
    })

    it('a device can log itself out: the reply arrives, then the socket closes', async () => {
      const p = await person(cluster, 1)
      const closed = new Promise<number>((resolve) => p.c.once('close', (code) => resolve(code)))
      expect(await p.c.request('device.logout')).toEqual({})
      expect(await closed).toBe(4401)
      await expectCode(MsgrClient.connect(cluster.gateways[1]!.url, p.pair.accessToken), 'unauthenticated')
      await waitFor(async () => {
        const routes = await cluster.adaptersOf(cluster.gateways[1]!).registry.lookup([p.id])
        return routes.size === 0
      })
    })
  })
})
