// The interfaces the core is written against. Adapters live in src/adapters/* and hold no business rules.

export interface QueryResult<R> {
  rows: R[]
  rowCount: number
}

/** A SQL connection (Postgres via `pg`, or embedded PGlite): both speak the same dialect. */
export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>>
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>
  /** Runs `fn` in one transaction on one connection; rolls back if it throws. */
  transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>
  close(): Promise<void>
  readonly kind: 'postgres' | 'pglite'
}

export interface SqlTx {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>>
  exec(script: string): Promise<void>
}

/** A message taken from the durable ingest stream of one partition. */
export interface IngestDelivery {
  readonly data: Uint8Array
  readonly partition: number
  /** True when the bus has handed this message out before (a worker crashed or timed out). */
  readonly redelivered: boolean
  ack(): void
  /** Give it back for redelivery (after `delayMs`). */
  nak(delayMs?: number): void
}

export interface IngestConsumer {
  /** Stops taking new messages; un-acked ones go back to the stream for the next owner. */
  stop(): Promise<void>
}

/**
 * The message bus. `publishIngest` is durable (resolves only once the bus has stored the message);
 * node mailboxes are fire-and-forget pub/sub between processes (gateway <-> worker).
 */
export interface Bus {
  readonly kind: 'nats' | 'memory'
  publishIngest(partition: number, data: Uint8Array): Promise<void>
  consumeIngest(partition: number, onMessage: (delivery: IngestDelivery) => void): Promise<IngestConsumer>
  publishNode(nodeId: string, data: Uint8Array): void
  subscribeNode(nodeId: string, onMessage: (data: Uint8Array) => void): () => void
  /** Resolves once everything published so far has left this process. */
  flush(): Promise<void>
  healthy(): boolean
  close(): Promise<void>
}

export interface Route {
  userId: string
  deviceId: string
  connId: string
  nodeId: string
}

/** Where each user's live connections are: which gateway holds which device. */
export interface ConnectionRegistry {
  readonly kind: 'redis' | 'memory'
  add(route: Route): Promise<void>
  remove(route: Route): Promise<void>
  /** For the given users, every live route, grouped by gateway node id. */
  lookup(userIds: readonly string[]): Promise<Map<string, Route[]>>
  /** Re-asserts a gateway's routes so they outlive the registry's TTL; called periodically. */
  refresh(nodeId: string, routes: readonly Route[]): Promise<void>
  healthy(): boolean
  close(): Promise<void>
}

/** What a user chose to show (status, custom text) and when they were last connected. */
export interface PresenceRecord {
  status: 'online' | 'away' | 'busy' | 'offline'
  custom?: string
  /** ms since epoch of the last disconnect of the user's last device; null when never seen. */
  lastSeen: number | null
}

export interface PresenceStore {
  readonly kind: 'redis' | 'memory'
  get(users: readonly string[]): Promise<Map<string, PresenceRecord>>
  set(user: string, patch: Partial<PresenceRecord>): Promise<void>
  close(): Promise<void>
}

/** A token bucket: `burst` tokens at most, refilled at `ratePerSec`. */
export interface RateRule {
  ratePerSec: number
  burst: number
}

export interface RateDecision {
  ok: boolean
  /** 0 when ok; otherwise ms until `cost` tokens are back. */
  retryAfterMs: number
  /** Whole tokens left after this take. */
  remaining: number
}

/** Token buckets by key, shared by every gateway on the same backend (Redis) or one process (memory). */
export interface RateLimiter {
  readonly kind: 'redis' | 'memory'
  /** Takes `cost` (default 1) tokens from `key`'s bucket; takes nothing when there are not enough. */
  take(key: string, rule: RateRule, cost?: number): Promise<RateDecision>
  healthy(): boolean
  close(): Promise<void>
}

/** At most `limit` distinct members per key, each counted for `windowMs` after it was last seen. */
export interface DistinctRule {
  limit: number
  windowMs: number
}

export interface DistinctDecision {
  ok: boolean
  /** 0 when ok; otherwise ms until the oldest member leaves the window. */
  retryAfterMs: number
  /** Distinct members in the window after this call. */
  count: number
}

/** Counts distinct members per key in a sliding window (e.g. conversations that got the same content). */
export interface DistinctLimiter {
  readonly kind: 'redis' | 'memory'
  /** Adds (or refreshes) `member` unless `key` already holds `limit` other members in the window. */
  admit(key: string, member: string, rule: DistinctRule): Promise<DistinctDecision>
  healthy(): boolean
  close(): Promise<void>
}

/**
 * Leadership among replicas of one role: at most one leader at a time, except for the moment between a
 * leader's connection dying and the leader noticing (it steps down as soon as it does).
 */
export interface LeaderElection {
  readonly kind: 'postgres' | 'memory'
  isLeader(): boolean
  /** Called with the new state on every change; returns the unsubscribe function. */
  onChange(cb: (leader: boolean) => void): () => void
  /** Steps down (releasing the lock) and stops campaigning. */
  close(): Promise<void>
}

export interface Clock {
  now(): number
}

export const systemClock: Clock = {now: () => Date.now()}
