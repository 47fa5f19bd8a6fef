import {createPgliteSql} from '../../src/adapters/pglite/sql.js'
import {createPostgresSql} from '../../src/adapters/postgres/sql.js'
import type {Sql} from '../../src/core/ports.js'
import {createTestDatabase, findServices, haveServices} from './services.js'

/** An open store of a leg; `close` ends the connection and drops what the leg created for it. */
export interface OpenStore {
  sql: Sql
  close(): Promise<void>
}

// Loud skip (or failure under MSGR_REQUIRE_SERVICES=1) when Postgres is missing, once for every store-level suite.
const postgres = await haveServices('postgres')

/** The two stores a store-level test runs against: an embedded PGlite, and a throwaway Postgres database. */
export const STORE_LEGS: ReadonlyArray<{name: 'pglite' | 'postgres'; available: boolean; open(): Promise<OpenStore>}> = [
  {
    name: 'pglite',
    available: true,
    open: async () => {
      const sql = await createPgliteSql()
      return {sql, close: () => sql.close()}
    },
  },
  {
    name: 'postgres',
    available: postgres,
    open: async () => {
      const db = await createTestDatabase((await findServices()).postgres!)
      const sql = createPostgresSql({url: db.url})
      return {
        sql,
        close: async () => {
          await sql.close()
          await db.drop()
        },
      }
    },
  },
]
