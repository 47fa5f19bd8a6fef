import pg from 'pg'

import type {LeaderElection} from '../../core/ports.js'

// Leadership as a session advisory lock held on a dedicated connection (never a pooled one: the lock lives
// exactly as long as its session). A dead connection releases the lock in Postgres, and the next replica to
// try takes it. Advisory locks are per database, so one lock key serves every cluster on its own database.

export interface PostgresLeaderOptions {
  url: string
  /** The two-int advisory lock key; replicas with the same key on the same database compete. */
  key?: readonly [number, number]
  /** ms between tries while following, and between lock checks while leading (default 1 s). */
  retryMs?: number
  applicationName?: string
  /** Connection trouble, reported once per outage. */
  onError?: (error: unknown) => void
}

/** ('msgr', 1): the control-plane leader lock. */
export const CONTROL_PLANE_LOCK_KEY: readonly [number, number] = [0x6d736772, 1]

export const LEADER_RETRY_MS = 1000

// Two-int keys show up in pg_locks as classid/objid with objsubid 2.
const TRY_LOCK = 'SELECT pg_try_advisory_lock($1::int, $2::int) AS locked'
const UNLOCK = 'SELECT pg_advisory_unlock($1::int, $2::int)'
const STILL_HELD = `SELECT EXISTS (
  SELECT 1 FROM pg_locks
   WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
     AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2) AS held`

export function createPostgresLeaderElection(options: PostgresLeaderOptions): LeaderElection {
  const key = [...(options.key ?? CONTROL_PLANE_LOCK_KEY)]
  const retryMs = options.retryMs ?? LEADER_RETRY_MS
  const listeners = new Set<(leader: boolean) => void>()
  let leader = false
  let client: pg.Client | undefined
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let closed = false
  // A replica that lost its connection while leading waits before trying again, so a healthy one takes over.
  let notBefore = 0
  let reported = false

  const set = (value: boolean) => {
    if (leader === value) return
    leader = value
    for (const cb of listeners) {
      try {
        cb(value)
      } catch {
        // a listener's failure is its own business
      }
    }
  }
  const report = (error: unknown) => {
    if (reported || closed) return
    reported = true
    options.onError?.(error)
  }
  // Steps down at once: without the connection, the lock is (or will be) gone.
  const lost = (c: pg.Client, error?: unknown) => {
    if (client !== c) return
    client = undefined
    if (leader) notBefore = Date.now() + 2 * retryMs
    set(false)
    c.end().catch(() => {})
    if (error !== undefined) report(error)
  }

  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({
      connectionString: options.url,
      application_name: options.applicationName ?? 'msgr-leader',
      keepAlive: true,
      keepAliveInitialDelayMillis: 5_000,
      connectionTimeoutMillis: 5 * retryMs,
      // A check that hangs (network partition) counts as a lost lock.
      query_timeout: 2 * retryMs,
    })
    c.on('error', (error) => lost(c, error))
    c.on('end', () => lost(c, new Error('leader connection closed')))
    try {
      await c.connect()
    } catch (error) {
      c.end().catch(() => {})
      throw error
    }
    return c
  }

  const attempt = async () => {
    let c = client
    try {
      if (!c) {
        if (Date.now() < notBefore) return
        c = await connect()
        if (closed) {
          await c.end().catch(() => {})
          return
        }
        client = c
        reported = false
      }
      if (!leader) {
        const {rows} = await c.query<{locked: boolean}>(TRY_LOCK, key)
        if (rows[0]?.locked && client === c && !closed) set(true)
      } else {
        const {rows} = await c.query<{held: boolean}>(STILL_HELD, key)
        if (!rows[0]?.held) lost(c, new Error('advisory lock no longer held by this session'))
      }
    } catch (error) {
      if (c && client === c) lost(c, error)
      else report(error)
    }
  }

  const loop = () => {
    running = attempt().finally(() => {
      running = undefined
      if (!closed) timer = setTimeout(loop, retryMs)
    })
  }
  loop()

  return {
    kind: 'postgres',
    isLeader: () => leader,
    onChange(cb) {
      listeners.add(cb)
      return () => listeners.delete(cb)
    },
    async close() {
      if (closed) return
      closed = true
      clearTimeout(timer)
      await running
      const c = client
      client = undefined
      if (c) {
        if (leader) await c.query(UNLOCK, key).catch(() => {})
        await c.end().catch(() => {})
      }
      set(false)
      listeners.clear()
    },
  }
}
