import type {Sql} from '../core/ports.js'

// Every node registers and heartbeats into `nodes`; a node whose heartbeat is older than the
// liveness window is dead to the rest of the cluster.

export interface NodeInfo {
  id: string
  roles: readonly string[]
  address: string | null
  version: string
}

export interface NodeRecord {
  id: string
  role: string
  address: string | null
  version: string
  state: 'active' | 'draining' | 'stopped'
  startedAt: string
  heartbeatAt: string
  ageMs: number
  alive: boolean
  stats: Record<string, unknown>
}

export async function registerNode(sql: Sql, info: NodeInfo): Promise<void> {
  await sql.query(
    `INSERT INTO nodes (id, role, address, version, state, started_at, heartbeat_at)
     VALUES ($1, $2, $3, $4, 'active', now(), now())
     ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, address = EXCLUDED.address, version = EXCLUDED.version,
       state = 'active', started_at = now(), heartbeat_at = now()`,
    [info.id, info.roles.join(','), info.address, info.version],
  )
}

export async function heartbeatNode(sql: Sql, id: string, stats: Record<string, unknown>): Promise<void> {
  await sql.query(`UPDATE nodes SET heartbeat_at = now(), stats = $2::jsonb WHERE id = $1`, [id, JSON.stringify(stats)])
}

export async function markNodeStopped(sql: Sql, id: string): Promise<void> {
  await sql.query(`UPDATE nodes SET state = 'stopped', heartbeat_at = now() WHERE id = $1`, [id])
}

export async function listNodes(sql: Sql, livenessMs: number): Promise<NodeRecord[]> {
  const {rows} = await sql.query<{
    id: string
    role: string
    address: string | null
    version: string
    state: NodeRecord['state']
    started_at: Date
    heartbeat_at: Date
    age_ms: number
    stats: Record<string, unknown>
  }>(
    `SELECT id, role, address, version, state, started_at, heartbeat_at,
            (extract(epoch FROM (now() - heartbeat_at)) * 1000)::bigint AS age_ms, stats
       FROM nodes ORDER BY role, id`,
  )
  return rows.map((r) => ({
    id: r.id,
    role: r.role,
    address: r.address,
    version: r.version,
    state: r.state,
    startedAt: r.started_at.toISOString(),
    heartbeatAt: r.heartbeat_at.toISOString(),
    ageMs: r.age_ms,
    alive: r.state !== 'stopped' && r.age_ms <= livenessMs,
    stats: r.stats,
  }))
}

/** Ids of live, active workers: the candidates for partition ownership. */
export async function liveWorkers(sql: Sql, livenessMs: number): Promise<string[]> {
  const {rows} = await sql.query<{id: string}>(
    `SELECT id FROM nodes
      WHERE 'worker' = ANY(string_to_array(role, ',')) AND state = 'active'
        AND heartbeat_at > now() - make_interval(secs => $1::float8 / 1000)
      ORDER BY id`,
    [livenessMs],
  )
  return rows.map((r) => r.id)
}
