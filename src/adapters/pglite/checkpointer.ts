// PGlite runs Postgres in single-user mode, which has no checkpointer process: without an explicit
// CHECKPOINT its write-ahead log grows for as long as the node runs (about 1 KB per message), and a
// crash replays all of it at the next start. This asks how much WAL the last checkpoint left behind
// and checkpoints once that passes a threshold, so the log on disk and the replay after a crash stay
// bounded. A checkpoint writes the dirty pages of shared_buffers (at most 128 MB), so a large threshold
// makes the short pauses rare.

export interface CheckpointOptions {
  /** Checkpoint once this much WAL has been written since the last checkpoint's redo point. */
  walBytes: number
  /** How often to look (one read of the control file). */
  intervalMs: number
  onError?: (error: unknown) => void
  /** After each checkpoint: the WAL it retired and how long the store was paused. */
  onCheckpoint?: (info: {walBytes: number; ms: number}) => void
}

export const CHECKPOINT_DEFAULTS = {walBytes: 128 * 1024 * 1024, intervalMs: 5_000} as const

export interface Checkpointer {
  /** Looks now and checkpoints if due; resolves whether it did. */
  tick(): Promise<boolean>
  /** Stops looking; waits for a look in progress. */
  stop(): Promise<void>
  readonly checkpoints: number
}

interface CheckpointDb {
  query<R>(text: string): Promise<{rows: R[]}>
  exec(text: string): Promise<unknown>
}

const WAL_SINCE_REDO = 'SELECT (pg_current_wal_insert_lsn() - redo_lsn)::float8 AS behind FROM pg_control_checkpoint()'

export function startCheckpointer(db: CheckpointDb, options: CheckpointOptions): Checkpointer {
  let running: Promise<boolean> | undefined
  let checkpoints = 0
  const tick = (): Promise<boolean> => {
    running ??= (async () => {
      const {rows} = await db.query<{behind: number}>(WAL_SINCE_REDO)
      const behind = rows[0]?.behind ?? 0
      if (behind < options.walBytes) return false
      const started = performance.now()
      await db.exec('CHECKPOINT')
      checkpoints++
      options.onCheckpoint?.({walBytes: behind, ms: performance.now() - started})
      return true
    })().finally(() => {
      running = undefined
    })
    return running
  }
  const timer = setInterval(() => void tick().catch((error: unknown) => options.onError?.(error)), options.intervalMs)
  timer.unref()
  return {
    tick,
    async stop() {
      clearInterval(timer)
      await running?.catch(() => {})
    },
    get checkpoints() {
      return checkpoints
    },
  }
}
