import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {startCheckpointer} from '../../src/adapters/pglite/checkpointer.js'
import {createPgliteSql} from '../../src/adapters/pglite/sql.js'
import type {Sql} from '../../src/core/ports.js'

// The embedded store on disk: single-user Postgres has no checkpointer, so the adapter checkpoints by
// WAL distance. Without it pg_wal grew by ~1 KB per message for as long as `serve all` ran.

const MB = 1024 * 1024
const walSinceRedo = async (sql: Sql) =>
  (await sql.query<{behind: number}>('SELECT (pg_current_wal_insert_lsn() - redo_lsn)::float8 AS behind FROM pg_control_checkpoint()')).rows[0]!.behind
const walSegments = (dataDir: string) => readdirSync(join(dataDir, 'pg_wal')).filter((f) => /^[0-9A-F]{24}$/.test(f)).length
/** About 3.5 MB of WAL per call. */
const write = (sql: Sql) => sql.query(`INSERT INTO wal_t (body) SELECT repeat('x', 300) || g FROM generate_series(1, 10000) g`)

describe('PGlite checkpoints by WAL distance', () => {
  const dirs: string[] = []
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'msgr-pglite-ckpt-'))
    dirs.push(dir)
    return dir
  }
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
  })

  it('keeps the WAL behind the last checkpoint under the threshold, and the segments on disk bounded', async () => {
    const dataDir = tempDir()
    // The timer is kept out of the way (an hour): the test drives the ticks the timer would make.
    const sql = await createPgliteSql({dataDir, checkpoint: {walBytes: 8 * MB, intervalMs: 3_600_000}})
    await sql.exec('CREATE TABLE wal_t (id bigserial PRIMARY KEY, body text NOT NULL)')
    const checker = startCheckpointer(
      {query: (text) => sql.query(text), exec: (text) => sql.exec(text)},
      {walBytes: 8 * MB, intervalMs: 3_600_000},
    )
    let checkpoints = 0
    for (let i = 0; i < 40; i++) {
      await write(sql)
      if (await checker.tick()) checkpoints++
      expect(await walSinceRedo(sql)).toBeLessThan(8 * MB)
    }
    await checker.stop()
    // ~140 MB of WAL written (nine 16 MB segments without checkpoints): about sixteen checkpoints, and the old segments recycled or removed.
    expect(checkpoints).toBeGreaterThanOrEqual(12)
    expect(checker.checkpoints).toBe(checkpoints)
    expect(walSegments(dataDir)).toBeLessThanOrEqual(4)
    await sql.close()

    const reopened = await createPgliteSql({dataDir})
    expect((await reopened.query<{n: number}>('SELECT count(*)::int8 AS n FROM wal_t')).rows[0]!.n).toBe(400_000)
    await reopened.close()
  }, 120_000)

  it('does not checkpoint below the threshold', async () => {
    const sql = await createPgliteSql({dataDir: tempDir()})
    await sql.exec('CREATE TABLE wal_t (id bigserial PRIMARY KEY, body text NOT NULL)')
    const checker = startCheckpointer({query: (text) => sql.query(text), exec: (text) => sql.exec(text)}, {walBytes: 64 * MB, intervalMs: 3_600_000})
    await write(sql)
    const before = await walSinceRedo(sql)
    expect(await checker.tick()).toBe(false)
    expect(await walSinceRedo(sql)).toBeGreaterThanOrEqual(before)
    await checker.stop()
    await sql.close()
  }, 60_000)

  it('runs on its own timer in the adapter, and reports each checkpoint', async () => {
    const reported: Array<{walBytes: number; ms: number}> = []
    const sql = await createPgliteSql({dataDir: tempDir(), checkpoint: {walBytes: 2 * MB, intervalMs: 50, onCheckpoint: (info) => reported.push(info)}})
    await sql.exec('CREATE TABLE wal_t (id bigserial PRIMARY KEY, body text NOT NULL)')
    await write(sql)
    const deadline = Date.now() + 10_000
    while ((await walSinceRedo(sql)) >= 2 * MB && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(await walSinceRedo(sql)).toBeLessThan(2 * MB)
    expect(reported.length).toBeGreaterThanOrEqual(1)
    expect(reported[0]!.walBytes).toBeGreaterThanOrEqual(2 * MB)
    expect(reported[0]!.ms).toBeGreaterThan(0)
    await sql.close()
  }, 60_000)

  it('starts Postgres without zero-filling new WAL segments', async () => {
    const sql = await createPgliteSql()
    expect((await sql.query<{wal_init_zero: string}>('SHOW wal_init_zero')).rows[0]!.wal_init_zero).toBe('off')
    await sql.close()
  })
})
