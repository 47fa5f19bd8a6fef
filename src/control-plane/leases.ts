import type {Sql} from '../core/ports.js'

// Partition leases with epochs. Leases keep owners from stepping on each other; correctness does not
// rest on them alone: the worker's compare-and-set on conversations.last_seq fences a zombie.

export interface Lease {
  partition: number
  epoch: number
}

export async function ensureLeaseRows(sql: Sql, partitions: number): Promise<void> {
  await sql.query(
    `INSERT INTO partition_leases (partition) SELECT generate_series(0, $1::int - 1) ON CONFLICT DO NOTHING`,
    [partitions],
  )
}

/** Takes or renews the given partitions where free, expired or already ours; returns what we hold. */
export async function acquireLeases(sql: Sql, owner: string, partitions: readonly number[], ttlMs: number): Promise<Lease[]> {
  if (partitions.length === 0) return []
  const {rows} = await sql.query<{partition: number; epoch: number}>(
    `UPDATE partition_leases
        SET epoch = CASE WHEN owner IS DISTINCT FROM $1 THEN epoch + 1 ELSE epoch END,
            owner = $1,
            expires_at = now() + make_interval(secs => $3::float8 / 1000)
      WHERE partition = ANY($2::int[]) AND (owner = $1 OR owner IS NULL OR expires_at < now())
      RETURNING partition, epoch`,
    [owner, partitions, ttlMs],
  )
  return rows.map((r) => ({partition: r.partition, epoch: r.epoch}))
}

export async function releaseLeases(sql: Sql, owner: string, partitions: readonly number[]): Promise<void> {
  if (partitions.length === 0) return
  await sql.query(
    `UPDATE partition_leases SET owner = NULL, expires_at = 'epoch' WHERE partition = ANY($2::int[]) AND owner = $1`,
    [owner, partitions],
  )
}

export async function listLeases(sql: Sql): Promise<Array<{partition: number; owner: string | null; epoch: number; expiresAt: string}>> {
  const {rows} = await sql.query<{partition: number; owner: string | null; epoch: number; expires_at: Date}>(
    'SELECT partition, owner, epoch, expires_at FROM partition_leases ORDER BY partition',
  )
  return rows.map((r) => ({partition: r.partition, owner: r.owner, epoch: r.epoch, expiresAt: r.expires_at.toISOString()}))
}
