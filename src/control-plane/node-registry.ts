import type {Sql} from '../core/ports.js'

// Every node registers and heartbeats into `nodes`; a node whose heartbeat is older than the
// liveness window is dead to the rest of the cluster.

export interface NodeInfo {
  id: string
  roles: readonly string[]
  address: string | null
  version: string
  /** First stats, before the first heartbeat (e.g. `tls`, which routing needs from the start). */
  stats?: Record<string, unknown>
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
  drain: DrainRequest | null
}

/** What an operator asked of a draining node. */
export interface DrainRequest {
  requestedAt: string
  /** Connections still open then are closed at once; partitions are handed back at once anyway. */
  deadlineAt: string
  /** Skip the graceful phase: close everything now. */
  force: boolean
  /** Shown to clients in the reconnect event. */
  reason: string
}

export async function registerNode(sql: Sql, info: NodeInfo): Promise<void> {
  await sql.query(
    `INSERT INTO nodes (id, role, address, version, state, started_at, heartbeat_at, stats)
     VALUES ($1, $2, $3, $4, 'active', now(), now(), $5::jsonb)
     ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, address = EXCLUDED.address, version = EXCLUDED.version,
       state = 'active', drain = NULL, started_at = now(), heartbeat_at = now(), stats = EXCLUDED.stats`,
    [info.id, info.roles.join(','), info.address, info.version, JSON.stringify(info.stats ?? {})],
  )
}

/** Heartbeat; returns the node's state and drain request as the control plane sees them. */
export async function heartbeatNode(sql: Sql, id: string, stats: Record<string, unknown>): Promise<{state: NodeRecord['state']; drain: DrainRequest | null} | undefined> {
  const {rows} = await sql.query<{state: NodeRecord['state']; drain: DrainRequest | null}>(
    `UPDATE nodes SET heartbeat_at = now(), stats = $2::jsonb WHERE id = $1 RETURNING state, drain`,
    [id, JSON.stringify(stats)],
  )
  return rows[0]
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
    drain: DrainRequest | null
  }>(
    `SELECT id, role, address, version, state, started_at, heartbeat_at,
            (extract(epoch FROM (now() - heartbeat_at)) * 1000)::bigint AS age_ms, stats, drain
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
    drain: r.drain,
  }))
}

/** Cordons a node: routing skips it at once, and the node drains itself on its next heartbeat. */
export async function requestDrain(sql: Sql, id: string, drain: DrainRequest): Promise<boolean> {
  const {rowCount} = await sql.query(`UPDATE nodes SET state = 'draining', drain = $2::jsonb WHERE id = $1 AND state <> 'stopped'`, [
    id,
    JSON.stringify(drain),
  ])
  return rowCount > 0
}

export async function cancelDrain(sql: Sql, id: string): Promise<boolean> {
  const {rowCount} = await sql.query(`UPDATE nodes SET state = 'active', drain = NULL WHERE id = $1 AND state = 'draining'`, [id])
  return rowCount > 0
}

/** This node's own record: how a node learns that it was asked to drain. */
export async function readOwnState(sql: Sql, id: string): Promise<{state: NodeRecord['state']; drain: DrainRequest | null} | undefined> {
  const {rows} = await sql.query<{state: NodeRecord['state']; drain: DrainRequest | null}>('SELECT state, drain FROM nodes WHERE id = $1', [id])
  return rows[0]
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
