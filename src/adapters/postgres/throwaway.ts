import {randomBytes} from 'node:crypto'

import pg from 'pg'

// A fresh, empty database on a real Postgres server, for integration tests and benchmarks that must
// never touch data they did not create; `drop()` removes it again.

export interface ThrowawayDatabase {
  url: string
  /** The server's `server_version`. */
  serverVersion: string
  drop(): Promise<void>
}

export interface ThrowawayOptions {
  /** Start of the database name, followed by 12 random hex digits (letters, digits and `_` only). */
  prefix: string
  /** Give up connecting to the server after this long; undefined = the pg default (no timeout). */
  connectTimeoutMs?: number
}

/** Creates the database through `adminUrl` (any database on the server); throws when it cannot. */
export async function createThrowawayDatabase(adminUrl: string, options: ThrowawayOptions): Promise<ThrowawayDatabase> {
  const name = `${options.prefix}${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({connectionString: adminUrl, connectionTimeoutMillis: options.connectTimeoutMs})
  try {
    await admin.connect()
    const {rows} = await admin.query<{v: string}>("SELECT current_setting('server_version') AS v")
    await admin.query(`CREATE DATABASE ${name}`)
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    return {
      url: url.toString(),
      serverVersion: rows[0]?.v ?? 'unknown',
      async drop() {
        const dropper = new pg.Client({connectionString: adminUrl})
        await dropper.connect()
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        await dropper.end()
      },
    }
  } finally {
    await admin.end().catch(() => {})
  }
}
