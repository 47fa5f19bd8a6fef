import {mkdirSync} from 'node:fs'

import {PGlite, types} from '@electric-sql/pglite'

import type {QueryResult, Sql, SqlTx} from '../../core/ports.js'

export interface PgliteOptions {
  /** A directory for the database files, or undefined for an in-memory database. */
  dataDir?: string
}

// Embedded Postgres (WASM) for `msgr serve all`: same SQL as the Postgres adapter, one connection.
export async function createPgliteSql(options: PgliteOptions = {}): Promise<Sql> {
  if (options.dataDir) mkdirSync(options.dataDir, {recursive: true})
  const db = await PGlite.create({
    dataDir: options.dataDir ?? 'memory://',
    parsers: {[types.INT8]: (value: string) => Number(value)},
  })
  const toResult = <R>(result: {rows: unknown[]; affectedRows?: number}): QueryResult<R> => ({
    rows: result.rows as R[],
    rowCount: result.affectedRows || result.rows.length,
  })
  return {
    kind: 'pglite',
    query: async (text, params) => toResult(await db.query(text, params)),
    exec: async (script) => {
      await db.exec(script)
    },
    transaction: (fn) =>
      db.transaction(async (raw) => {
        const tx: SqlTx = {
          query: async (text, params) => toResult(await raw.query(text, params)),
          exec: async (script) => {
            await raw.exec(script)
          },
        }
        return fn(tx)
      }),
    close: () => db.close(),
  }
}
