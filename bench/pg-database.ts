import {randomBytes} from 'node:crypto'

import pg from 'pg'

// A throwaway database on a real Postgres server (same recipe as test/helpers/services.ts), so the
// benchmark never touches data it did not create.

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

export interface ThrowawayDatabase {
  url: string
  serverVersion: string
  drop(): Promise<void>
}

/** The admin URL to use: MSGR_BENCH_DATABASE_URL, then MSGR_TEST_DATABASE_URL, then the local default. */
export function adminUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.MSGR_BENCH_DATABASE_URL ?? env.MSGR_TEST_DATABASE_URL ?? DEFAULT_ADMIN_URL
}

/** Creates a fresh, empty database, or returns the reason it could not. */
export async function createThrowawayDatabase(admin: string): Promise<ThrowawayDatabase | {error: string}> {
  const name = `msgr_bench_${randomBytes(6).toString('hex')}`
  const client = new pg.Client({connectionString: admin, connectionTimeoutMillis: 3000})
  try {
    await client.connect()
    const {rows} = await client.query<{v: string}>("SELECT current_setting('server_version') AS v")
    await client.query(`CREATE DATABASE ${name}`)
    const url = new URL(admin)
    url.pathname = `/${name}`
    return {
      url: url.toString(),
      serverVersion: rows[0]?.v ?? 'unknown',
      async drop() {
        const dropper = new pg.Client({connectionString: admin})
        await dropper.connect()
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        await dropper.end()
      },
    }
  } catch (error) {
    return {error: error instanceof Error ? error.message || error.name : String(error)}
  } finally {
    await client.end().catch(() => {})
  }
}
