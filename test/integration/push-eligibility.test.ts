import {randomUUID} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Sql} from '../../src/core/ports.js'
import {migrate} from '../../src/core/store/migrate.js'
import {pushableDevices} from '../../src/core/store/push-tokens.js'
import {randomPhone} from '../helpers/cluster.js'
import {STORE_LEGS} from '../helpers/store-legs.js'

// Which devices of a batch's recipients may get a push: the worker asks once per batch with the
// (conversation, user) pairs of its messages (msgr_pushable_devices). It must answer only the pairs asked,
// not every conversation a recipient is in (a member of two of the conversations who is a recipient in
// only one), and keep every rule: revoked devices, notifications off, muted conversations.

describe.each(STORE_LEGS)('push eligibility on $name', ({available, open}) => {
  describe.runIf(available)('pushableDevices', () => {
    let sql: Sql
    let close: () => Promise<void>
    const [alice, bob, carol, dave] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()]
    const [x, y] = [randomUUID(), randomUUID()]
    const device = {bobPhone: randomUUID(), bobOld: randomUUID(), carolPhone: randomUUID(), davePhone: randomUUID(), aliceNoToken: randomUUID()}

    beforeAll(async () => {
      ;({sql, close} = await open())
      await migrate(sql)
      for (const user of [alice, bob, carol, dave]) await sql.query('INSERT INTO users (id, phone) VALUES ($1, $2)', [user, randomPhone()])
      const addDevice = async (id: string, user: string, options: {revoked?: boolean; prefs?: object; token?: boolean} = {}) => {
        await sql.query(`INSERT INTO devices (id, user_id, name, platform, revoked_at) VALUES ($1, $2, 'phone', 'test', $3)`, [id, user, options.revoked ? new Date() : null])
        if (options.prefs) await sql.query('UPDATE devices SET notify_prefs = $2::jsonb WHERE id = $1', [id, JSON.stringify(options.prefs)])
        if (options.token !== false) await sql.query(`INSERT INTO push_tokens (device_id, user_id, provider, token) VALUES ($1, $2, 'log', $3)`, [id, user, `tok-${id}`])
      }
      await addDevice(device.aliceNoToken, alice, {token: false})
      await addDevice(device.bobPhone, bob)
      await addDevice(device.bobOld, bob, {revoked: true})
      await addDevice(device.carolPhone, carol, {prefs: {enabled: false}})
      await addDevice(device.davePhone, dave)
      await sql.query(`INSERT INTO conversations (id, kind) VALUES ($1, 'group'), ($2, 'group')`, [x, y])
      const member = (conversation: string, user: string, muted = false) =>
        sql.query(`INSERT INTO members (conversation_id, user_id, role, muted) VALUES ($1, $2, 'member', $3)`, [conversation, user, muted])
      for (const user of [alice, bob, carol, dave]) await member(x, user)
      await member(y, bob)
      await member(y, dave, true)
    })
    afterAll(async () => {
      await close?.()
    })

    it('answers exactly the pairs asked, with live, enabled, unmuted registrations only', async () => {
      const asked = [
        {conversation: x, user: alice}, // no push registration
        {conversation: x, user: bob}, // one live device, one revoked
        {conversation: x, user: carol}, // notifications off on her only device
        {conversation: x, user: dave},
        {conversation: y, user: dave}, // muted there
      ]
      const got = await pushableDevices(sql, asked)
      const key = (r: {conversation: string; user: string; device: string}) => `${r.conversation === x ? 'x' : 'y'}:${r.device}`
      // (y, bob) was not asked although bob is a member of y with a live device: it must not appear.
      expect(got.map(key).sort()).toEqual([`x:${device.bobPhone}`, `x:${device.davePhone}`].sort())
      expect(got.find((r) => r.device === device.bobPhone)?.user).toBe(bob)
    })

    it('answers nothing for recipients without registrations, and for no pairs', async () => {
      expect(await pushableDevices(sql, [{conversation: x, user: alice}])).toEqual([])
      expect(await pushableDevices(sql, [])).toEqual([])
    })
  })
})
