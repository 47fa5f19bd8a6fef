import {mkdirSync} from 'node:fs'

import {PGlite, types} from '@electric-sql/pglite'

import type {QueryResult, Sql, SqlTx} from '../../core/ports.js'
import {CHECKPOINT_DEFAULTS, type CheckpointOptions, startCheckpointer} from './checkpointer.js'

export interface PgliteOptions {
  /** A directory for the database files, or undefined for an in-memory database. */
  dataDir?: string
  /** When to checkpoint (single-user Postgres has no checkpointer of its own): see checkpointer.ts. */
  checkpoint?: Partial<CheckpointOptions>
}

// New WAL segments are not zero-filled first: on the in-memory file system that was a 16 MB copy, a
// 100-150 ms pause every ~15,000 messages (and PGlite does not fsync anyway). The sizes bound the
// segments kept for reuse once checkpoints run.
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'wal_init_zero=off', '-c', 'min_wal_size=64MB', '-c', 'max_wal_size=256MB']

// Embedded Postgres (WASM) for `msgr serve all`: same SQL as the Postgres adapter, one connection.
export async function createPgliteSql(options: PgliteOptions = {}): Promise<Sql> {
  if (options.dataDir) mkdirSync(options.dataDir, {recursive: true})
  const db = await PGlite.create({
    dataDir: options.dataDir ?? 'memory://',
    parsers: {[types.INT8]: (value: string) => Number(value)},
    startParams: START_PARAMS,
  })
  const checkpointer = startCheckpointer(db, {...CHECKPOINT_DEFAULTS, ...options.checkpoint})
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
    close: async () => {
      await checkpointer.stop()
      await db.close()
    },
  }
}
