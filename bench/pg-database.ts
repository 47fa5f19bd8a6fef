import {createThrowawayDatabase as createDatabase, type ThrowawayDatabase} from '../src/adapters/postgres/throwaway.js'

export type {ThrowawayDatabase} from '../src/adapters/postgres/throwaway.js'

// A throwaway database on a real Postgres server (src/adapters/postgres/throwaway.ts, as the integration
// tests use), so the benchmark never touches data it did not create.

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

/** The admin URL to use: MSGR_BENCH_DATABASE_URL, then MSGR_TEST_DATABASE_URL, then the local default. */
export function adminUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.MSGR_BENCH_DATABASE_URL ?? env.MSGR_TEST_DATABASE_URL ?? DEFAULT_ADMIN_URL
}

/** Creates a fresh, empty database, or returns the reason it could not. */
export async function createThrowawayDatabase(admin: string): Promise<ThrowawayDatabase | {error: string}> {
  try {
    return await createDatabase(admin, {prefix: 'msgr_bench_', connectTimeoutMs: 3000})
  } catch (error) {
    return {error: error instanceof Error ? error.message || error.name : String(error)}
  }
}
