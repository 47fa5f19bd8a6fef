import {createPgliteSql} from '../../src/adapters/pglite/sql.js'
import {createPostgresSql} from '../../src/adapters/postgres/sql.js'
import type {Sql} from '../../src/core/ports.js'
import {createTestDatabase, findServices} from './services.js'

/** The two stores a store-level test runs against: an embedded PGlite, and a throwaway Postgres database. */
export const STORE_LEGS = [
  {name: 'pglite', open: async () => ({sql: (await createPgliteSql()) as Sql, drop: async () => {}})},
  {
    name: 'postgres',
    open: async () => {
      const db = await createTestDatabase((await findServices()).postgres!)
      return {sql: createPostgresSql({url: db.url}) as Sql, drop: db.drop}
    },
  },
]
