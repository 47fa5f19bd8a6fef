import pg from 'pg'

import type {QueryResult, Sql, SqlTx} from '../../core/ports.js'

export interface PostgresOptions {
  url: string
  /** Pool size; the worker's batch writer needs few, gateways more for reads. */
  max?: number
  applicationName?: string
}

// bigint (int8) as JS number: seqs and counts stay far below 2^53.
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20) return (value: string) => Number(value)
    return pg.types.getTypeParser(oid, format as 'text')
  },
}

export function createPostgresSql(options: PostgresOptions): Sql {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'msgr',
    types: types as pg.CustomTypesConfig,
  })
  // An idle client that errors (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {})
  const query = async <R>(client: pg.Pool | pg.PoolClient, text: string, params?: unknown[]): Promise<QueryResult<R>> => {
    const result = await client.query(text, params as unknown[])
    return {rows: result.rows as R[], rowCount: result.rowCount ?? 0}
  }
  return {
    kind: 'postgres',
    query: (text, params) => query(pool, text, params),
    exec: async (script) => {
      await pool.query(script)
    },
    async transaction(fn) {
      const client = await pool.connect()
      // pg-pool drops its error listener while a client is checked out, and a client whose server goes away
      // (restart, failover) emits 'error': unheard, that would kill the process. The query in flight
      // fails instead, and the broken client is destroyed on release.
      let lost: Error | undefined
      const onLost = (error: Error) => (lost = error)
      client.on('error', onLost)
      try {
        await client.query('BEGIN')
        const tx: SqlTx = {
          query: (text, params) => query(client, text, params),
          exec: async (script) => {
            await client.query(script)
          },
        }
        const result = await fn(tx)
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        throw error
      } finally {
        client.off('error', onLost)
        client.release(lost)
      }
    },
    close: () => pool.end(),
  }
}
