import type {Sql} from '../ports.js'
import {MIGRATIONS, type Migration} from './migrations.js'

export interface MigrateResult {
  applied: Array<{version: number; name: string}>
  current: number
}

// Serialises concurrent migrators (several pods starting at once) with an advisory lock.
const LOCK_KEY = 0x6d736772 // "msgr"

export async function migrate(sql: Sql, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  return sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY])
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    const {rows} = await tx.query<{version: number}>('SELECT version FROM schema_migrations')
    const done = new Set(rows.map((row) => Number(row.version)))
    const applied: MigrateResult['applied'] = []
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue
      await tx.exec(migration.sql)
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name])
      applied.push({version: migration.version, name: migration.name})
    }
    const current = Math.max(0, ...done, ...applied.map((a) => a.version))
    return {applied, current}
  })
}

/** Fails with a message that names the fix when the schema is behind this binary. */
export async function assertMigrated(sql: Sql, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  const latest = Math.max(...migrations.map((m) => m.version))
  const current = await sql
    .query<{v: number | null}>('SELECT max(version)::int AS v FROM schema_migrations')
    .then((r) => r.rows[0]?.v ?? 0)
    .catch(() => 0)
  if (current < latest) {
    throw new Error(`database schema is at version ${current}, this msgr needs ${latest}: run \`msgr db migrate\` (or pass --migrate)`)
  }
}
