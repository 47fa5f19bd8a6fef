import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {IngestEnvelope} from '../../src/core/envelope.js'
import {newId} from '../../src/core/ids.js'
import type {Sql} from '../../src/core/ports.js'
import type {ConversationState} from '../../src/core/sequencer.js'
import {storeBatch} from '../../src/core/store/batch-store.js'
import {FencingConflict, commitBatch, loadConversationStates} from '../../src/core/store/message-writer.js'
import {planBatch} from '../../src/core/sequencer.js'
import {migrate} from '../../src/core/store/migrate.js'
import {STORE_LEGS} from '../helpers/store-legs.js'

// Fencing without trusting leases: a zombie owner that still believes an old last_seq cannot write,
// because every batch compare-and-sets conversations.last_seq in the same transaction as its INSERT.

describe.each(STORE_LEGS)('fencing on $name', ({available, open}) => {
  describe.runIf(available)('a zombie owner', () => {
    let sql: Sql
    let close: () => Promise<void>
    const conv = newId()
    const alice = newId()
    const device = newId()

    beforeAll(async () => {
      ;({sql, close} = await open())
      await migrate(sql)
      await sql.query(`INSERT INTO users (id, phone) VALUES ($1, $2)`, [alice, `+1555${Math.floor(Math.random() * 1e7)}`])
      await sql.query(`INSERT INTO conversations (id, kind) VALUES ($1, 'direct')`, [conv])
      await sql.query(`INSERT INTO members (conversation_id, user_id) VALUES ($1, $2)`, [conv, alice])
    })
    afterAll(async () => {
      await close?.()
    })

    const env = (id: string): IngestEnvelope => ({v: 1, conv, sender: alice, senderDevice: device, clientMsgId: id, kind: 'text', body: id, gw: 'g', at: 0})

    it('cannot commit a batch planned on a stale last_seq; the rightful owner keeps a gapless order', async () => {
      const zombie = new Map<string, ConversationState>(await loadConversationStates(sql, [conv]))
      const owner = new Map<string, ConversationState>(await loadConversationStates(sql, [conv]))
      // The new owner writes three messages; the zombie still believes last_seq = 0.
      await storeBatch(sql, [env('o1'), env('o2'), env('o3')], {states: owner, now: () => new Date(), newId})
      const stale = planBatch({envelopes: [env('z1')], states: zombie, existing: new Map(), now: new Date(), newId})
      expect(stale.inserts[0]!.seq).toBe(1)
      await expect(commitBatch(sql, stale)).rejects.toBeInstanceOf(FencingConflict)
      // Through storeBatch the zombie reloads and re-plans: its message lands after the owner's, no gap.
      const replanned = await storeBatch(sql, [env('z1')], {states: zombie, now: () => new Date(), newId})
      expect(replanned!.inserts[0]!.seq).toBe(4)
      const {rows} = await sql.query<{seq: number; client_msg_id: string}>('SELECT seq, client_msg_id FROM messages WHERE conversation_id = $1 ORDER BY seq', [conv])
      expect(rows.map((r) => [r.seq, r.client_msg_id])).toEqual([
        [1, 'o1'],
        [2, 'o2'],
        [3, 'o3'],
        [4, 'z1'],
      ])
    })

    it('stores a message once when two owners race with the same clientMsgId', async () => {
      const a = new Map<string, ConversationState>(await loadConversationStates(sql, [conv]))
      const b = new Map<string, ConversationState>(await loadConversationStates(sql, [conv]))
      const [ra, rb] = await Promise.all([
        storeBatch(sql, [env('race')], {states: a, now: () => new Date(), newId}),
        storeBatch(sql, [env('race')], {states: b, now: () => new Date(), newId}),
      ])
      const outcomes = [ra!.outcomes[0]!, rb!.outcomes[0]!]
      expect(outcomes.every((o) => o.ok)).toBe(true)
      expect(new Set(outcomes.map((o) => (o.ok ? o.seq : -1))).size).toBe(1)
      const {rows} = await sql.query('SELECT 1 FROM messages WHERE conversation_id = $1 AND client_msg_id = $2', [conv, 'race'])
      expect(rows).toHaveLength(1)
    })
  })
})
