import {randomUUID} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Sql} from '../../src/core/ports.js'
import {listPushHistory, prunePushHistory, recordPushHistory} from '../../src/core/store/push-history.js'
import {migrate} from '../../src/core/store/migrate.js'
import {randomPhone} from '../helpers/cluster.js'
import {STORE_LEGS} from '../helpers/store-legs.js'

// Retention of the notification history (--push-history-days): pruning deletes what is older than the
// cut-off, in bounded statements, and keeps everything newer.

describe.each(STORE_LEGS)('push history retention on $name', ({available, open}) => {
  describe.runIf(available)('prunePushHistory', () => {
    let sql: Sql
    let close: () => Promise<void>
    const user = randomUUID()
    const device = randomUUID()

    beforeAll(async () => {
      ;({sql, close} = await open())
      await migrate(sql)
      await sql.query('INSERT INTO users (id, phone) VALUES ($1, $2)', [user, randomPhone()])
      await sql.query(`INSERT INTO devices (id, user_id, name, platform) VALUES ($1, $2, 'phone', 'test')`, [device, user])
    })
    afterAll(async () => {
      await close?.()
    })

    it('deletes outcomes older than the cut-off, a batch at a time, and keeps the rest', async () => {
      const day = 86_400_000
      const now = Date.parse('2026-11-29T12:00:00Z')
      const record = (ageDays: number, i: number) =>
        recordPushHistory(
          sql,
          {id: randomUUID(), device, user, status: 'sent', provider: 'log', title: `t${i}`, body: null, count: 1, conversations: [], attempt: 1, detail: null, providerId: null},
          new Date(now - ageDays * day - i),
        )
      // 23 old (40 days), 5 recent (2 days).
      for (let i = 0; i < 23; i++) await record(40, i)
      for (let i = 0; i < 5; i++) await record(2, i)

      expect(await prunePushHistory(sql, new Date(now - 30 * day), 10)).toBe(23)
      const left = await listPushHistory(sql, device, 100)
      expect(left).toHaveLength(5)
      expect(left.every((e) => Date.parse(e.at) > now - 30 * day)).toBe(true)
      expect(await prunePushHistory(sql, new Date(now - 30 * day), 10)).toBe(0)
    })
  })
})
