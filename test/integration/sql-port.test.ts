import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Sql} from '../../src/core/ports.js'
import {STORE_LEGS} from '../helpers/store-legs.js'

// The Sql port's contract, which the stores build on, on both stores: result types, errors with their
// SQLSTATE (the worker tells bad input from outages by it), transactions and their isolation.

describe.each(STORE_LEGS)('the Sql port on $name', ({available, open}) => {
  describe.runIf(available)('contract', () => {
    let sql: Sql
    let close: () => Promise<void>

    beforeAll(async () => {
      ;({sql, close} = await open())
      await sql.exec(`CREATE TABLE port_t (id int PRIMARY KEY, n int8 NOT NULL, b bytea, j jsonb, at timestamptz);
                      CREATE TABLE port_u (id int PRIMARY KEY)`)
    })
    afterAll(async () => {
      await close?.()
    })

    it('returns rows with int8 as numbers, bytea as bytes, jsonb as values, and counts affected rows', async () => {
      const inserted = await sql.query(
        `INSERT INTO port_t (id, n, b, j, at) VALUES (1, $1, $2, $3, $4), (2, 7, NULL, NULL, NULL)`,
        [9_007_199_254_740_991, Buffer.from([1, 2, 255]), JSON.stringify({a: [1, 'x']}), new Date('2026-01-02T03:04:05Z')],
      )
      expect(inserted.rowCount).toBe(2)
      const {rows} = await sql.query<{id: number; n: number; b: Uint8Array | null; j: unknown; at: Date | null}>(
        'SELECT id, n, b, j, at FROM port_t ORDER BY id',
      )
      expect(rows[0]!.n).toBe(9_007_199_254_740_991)
      expect([...rows[0]!.b!]).toEqual([1, 2, 255])
      expect(rows[0]!.j).toEqual({a: [1, 'x']})
      expect(new Date(rows[0]!.at!).toISOString()).toBe('2026-01-02T03:04:05.000Z')
      expect(rows[1]).toMatchObject({id: 2, n: 7, b: null, j: null, at: null})
      expect((await sql.query('UPDATE port_t SET n = n + 1')).rowCount).toBe(2)
    })

    it('rejects with the SQLSTATE code, and the store stays usable', async () => {
      const error = await sql.query('INSERT INTO port_u (id) VALUES (1), (1)').catch((e: unknown) => e)
      expect(error).toBeInstanceOf(Error)
      expect((error as {code?: string}).code).toBe('23505')
      expect((error as Error).message).toMatch(/duplicate key/)
      const syntax = await sql.query('SELEC 1').catch((e: unknown) => e)
      expect((syntax as {code?: string}).code).toBe('42601')
      expect((await sql.query<{one: number}>('SELECT 1 AS one')).rows).toEqual([{one: 1}])
    })

    it('commits a transaction, and rolls back all of it when the function throws', async () => {
      const value = await sql.transaction(async (tx) => {
        await tx.query('INSERT INTO port_u (id) VALUES (10)')
        await tx.exec('INSERT INTO port_u (id) VALUES (11); INSERT INTO port_u (id) VALUES (12)')
        return (await tx.query<{c: number}>('SELECT count(*)::int AS c FROM port_u WHERE id >= 10')).rows[0]!.c
      })
      expect(value).toBe(3)
      const thrown = new Error('changed my mind')
      await expect(
        sql.transaction(async (tx) => {
          await tx.query('INSERT INTO port_u (id) VALUES (20)')
          throw thrown
        }),
      ).rejects.toBe(thrown)
      // A failed statement inside: the caller's error surfaces, nothing of the transaction stays.
      await expect(
        sql.transaction(async (tx) => {
          await tx.query('INSERT INTO port_u (id) VALUES (21)')
          await tx.query('INSERT INTO port_u (id) VALUES (10)')
        }),
      ).rejects.toMatchObject({code: '23505'})
      const {rows} = await sql.query<{id: number}>('SELECT id FROM port_u WHERE id >= 10 ORDER BY id')
      expect(rows.map((r) => r.id)).toEqual([10, 11, 12])
    })

    it('keeps concurrent transactions and queries apart', async () => {
      await sql.query('DELETE FROM port_u')
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      const first = sql.transaction(async (tx) => {
        await tx.query('INSERT INTO port_u (id) VALUES (100)')
        await gate
        await tx.query('INSERT INTO port_u (id) VALUES (101)')
      })
      const second = sql.transaction(async (tx) => {
        await tx.query('INSERT INTO port_u (id) VALUES (200)')
      })
      // What runs outside the open transaction sees none of its uncommitted rows, or waits for it.
      const outside = sql.query<{c: number}>('SELECT count(*)::int AS c FROM port_u WHERE id IN (100, 101)')
      setTimeout(release, 50)
      await Promise.all([first, second])
      expect([0, 2]).toContain((await outside).rows[0]!.c)
      const {rows} = await sql.query<{id: number}>('SELECT id FROM port_u ORDER BY id')
      expect(rows.map((r) => r.id)).toEqual([100, 101, 200])
      // Many at once, each its own statement: all of them land.
      await Promise.all(Array.from({length: 50}, (_, i) => sql.transaction((tx) => tx.query('INSERT INTO port_u (id) VALUES ($1)', [1000 + i]))))
      expect((await sql.query<{c: number}>('SELECT count(*)::int AS c FROM port_u WHERE id >= 1000')).rows[0]!.c).toBe(50)
    })
  })
})
