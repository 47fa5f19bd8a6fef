import {createPgliteSql} from '../src/adapters/pglite/sql.js'
import {createPostgresSql} from '../src/adapters/postgres/sql.js'
import type {IngestEnvelope} from '../src/core/envelope.js'
import {newId} from '../src/core/ids.js'
import type {Sql} from '../src/core/ports.js'
import type {ConversationState} from '../src/core/sequencer.js'
import {storeBatch} from '../src/core/store/batch-store.js'
import {loadConversationStates} from '../src/core/store/message-writer.js'
import {migrate} from '../src/core/store/migrate.js'
import {type Bounds, fmtInt, fmtRatio, type LatencySummary, progress, round, runBounded} from './measure.js'
import {adminUrl, createThrowawayDatabase} from './pg-database.js'
import {mulberry32} from './random.js'
import type {Table} from './table.js'

// Message persistence, the worker's hot path. Baseline: one autocommit INSERT per message, the way a
// naive worker would store them. Subject: what msgr's worker does per batch (storeBatch: plan seqs,
// then one transaction with the CAS on last_seq, the sender watermarks and one multi-row INSERT). Both run on the
// same database, same schema, same traffic, in the same run.

export interface StoreBenchOptions {
  baseline: Bounds
  batched: Bounds
  batchSizes: readonly number[]
  conversations: number
  membersPerConversation: number
  /** Fail instead of skipping when Postgres cannot be reached (CI). */
  requirePostgres: boolean
}

export const STORE_DEFAULTS: StoreBenchOptions = {
  baseline: {maxCount: 5_000, maxMs: 10_000},
  batched: {maxCount: 50_000, maxMs: 10_000},
  batchSizes: [100, 500, 1000],
  conversations: 200,
  membersPerConversation: 5,
  requirePostgres: process.env.MSGR_REQUIRE_SERVICES === '1',
}

export interface StoreRun {
  path: 'single-row INSERT (baseline)' | 'worker batch'
  batchSize: number
  messages: number
  elapsedMs: number
  messagesPerSecond: number
  /** Rate over the run's last second: lower than messagesPerSecond when writes slow as the table grows. */
  tailMessagesPerSecond: number
  stoppedBy: 'count' | 'time'
  latency?: LatencySummary
  /** messagesPerSecond / the baseline's, same target, same run. */
  ratio: number
  /** Share of the batched run's time in each step of the worker path. */
  /** Rows in `messages` (and the sum of last_seq, for batches) matched what the run reported. */
  verified: boolean
}

export interface StoreTargetResult {
  target: 'postgres' | 'pglite'
  detail: string
  runs: StoreRun[]
}

export interface StoreResult {
  setup: {conversations: number; membersPerConversation: number; baseline: Bounds; batched: Bounds}
  targets: StoreTargetResult[]
  skipped: Array<{target: 'postgres'; reason: string}>
}

export async function benchStore(options: StoreBenchOptions = STORE_DEFAULTS): Promise<{result: StoreResult; tables: Table[]}> {
  const result: StoreResult = {
    setup: {
      conversations: options.conversations,
      membersPerConversation: options.membersPerConversation,
      baseline: options.baseline,
      batched: options.batched,
    },
    targets: [],
    skipped: [],
  }

  const admin = adminUrl()
  const db = await createThrowawayDatabase(admin)
  if ('error' in db) {
    const reason = `Postgres at ${redact(admin)} is unreachable (${db.error})`
    if (options.requirePostgres) throw new Error(`MSGR_REQUIRE_SERVICES=1 and ${reason}`)
    process.stdout.write(
      `\n${'!'.repeat(100)}\n!!! SKIPPING the Postgres leg of store-batch: ${reason}.\n` +
        `!!! Start Postgres or set MSGR_BENCH_DATABASE_URL. Running on embedded PGlite only.\n${'!'.repeat(100)}\n`,
    )
    result.skipped.push({target: 'postgres', reason})
  } else {
    const sql = createPostgresSql({url: db.url, max: 2, applicationName: 'msgr-bench'})
    try {
      result.targets.push(await benchTarget('postgres', `Postgres ${db.serverVersion}, throwaway database`, sql, options))
    } finally {
      await sql.close()
      await db.drop()
    }
  }

  const lite = await createPgliteSql()
  try {
    result.targets.push(await benchTarget('pglite', 'PGlite (WASM), in memory', lite, options))
  } finally {
    await lite.close()
  }

  return {result, tables: result.targets.map(toTable)}
}

async function benchTarget(target: 'postgres' | 'pglite', detail: string, sql: Sql, options: StoreBenchOptions): Promise<StoreTargetResult> {
  progress(`store-batch/${target}: migrating and seeding ${options.conversations} conversations`)
  await migrate(sql)
  const fixture = await seed(sql, options.conversations, options.membersPerConversation)
  const runs: StoreRun[] = []

  const baseline = await runBaseline(target, sql, fixture, options.baseline)
  runs.push(baseline)
  for (const size of options.batchSizes) {
    const run = await runBatched(target, sql, fixture, size, options.batched)
    run.ratio = round(run.messagesPerSecond / baseline.messagesPerSecond, 2)
    runs.push(run)
  }
  return {target, detail, runs}
}

async function runBaseline(target: string, sql: Sql, fixture: Fixture, bounds: Bounds): Promise<StoreRun> {
  await reset(sql)
  const traffic = createTraffic(fixture, 1)
  const seqs = new Map<string, number>()
  const insertOne = async () => {
    const env = traffic.next()
    const seq = (seqs.get(env.conv) ?? 0) + 1
    seqs.set(env.conv, seq)
    await sql.query(
      `INSERT INTO messages (conversation_id, seq, id, sender_id, sender_device, client_msg_id, kind, body, reply_to, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, ($8::text)::jsonb, $9, $10)`,
      [env.conv, seq, newId(), env.sender, env.senderDevice, env.clientMsgId, env.kind, JSON.stringify(env.body), null, new Date()],
    )
    return 1
  }
  for (let i = 0; i < 50; i++) await insertOne()
  const run = await runBounded(`store-batch/${target} single-row`, bounds, insertOne, {latencyPer: 'INSERT', unit: 'rows'})
  const stored = await countMessages(sql)
  return {
    path: 'single-row INSERT (baseline)',
    batchSize: 1,
    messages: run.count,
    elapsedMs: run.elapsedMs,
    messagesPerSecond: run.perSecond,
    tailMessagesPerSecond: run.tailPerSecond,
    stoppedBy: run.stoppedBy,
    latency: run.latency,
    ratio: 1,
    verified: stored.rows === run.count + 50,
  }
}

async function runBatched(target: string, sql: Sql, fixture: Fixture, batchSize: number, bounds: Bounds): Promise<StoreRun> {
  await reset(sql)
  const traffic = createTraffic(fixture, batchSize)
  // The worker caches conversation state across batches and only moves last_seq forward itself.
  const states = new Map<string, ConversationState>(await loadConversationStates(sql, fixture.conversations.map((c) => c.id)))
  // Exactly what the worker runs per batch (src/core/store/batch-store.ts).
  const storeOne = async (size: number) => {
    const envelopes = Array.from({length: size}, () => traffic.next())
    const plan = await storeBatch(sql, envelopes, {states, now: () => new Date(), newId})
    if (plan?.inserts.length !== size) throw new Error(`the worker path refused ${size - (plan?.inserts.length ?? 0)} of ${size} benchmark messages`)
    return size
  }
  const warmup = 2 * batchSize
  await storeOne(batchSize)
  await storeOne(batchSize)
  const run = await runBounded(`store-batch/${target} batch ${batchSize}`, bounds, (remaining) => storeOne(Math.min(batchSize, remaining)), {
    latencyPer: 'batch',
    unit: 'rows',
  })
  const stored = await countMessages(sql)
  return {
    path: 'worker batch',
    batchSize,
    messages: run.count,
    elapsedMs: run.elapsedMs,
    messagesPerSecond: run.perSecond,
    tailMessagesPerSecond: run.tailPerSecond,
    stoppedBy: run.stoppedBy,
    latency: run.latency,
    ratio: 0,
    verified: stored.rows === run.count + warmup && stored.lastSeqSum === stored.rows,
  }
}

interface Fixture {
  conversations: Array<{id: string; members: Array<{user: string; device: string}>}>
}

/** Users, group conversations and memberships: every sender in the traffic is a member. */
async function seed(sql: Sql, conversations: number, membersPer: number): Promise<Fixture> {
  const fixture: Fixture = {
    conversations: Array.from({length: conversations}, () => ({
      id: newId(),
      members: Array.from({length: membersPer}, () => ({user: newId(), device: newId()})),
    })),
  }
  const users = fixture.conversations.flatMap((c) => c.members.map((m) => m.user))
  await sql.query(`INSERT INTO users (id, phone) SELECT u, '+1555' || lpad(n::text, 7, '0') FROM unnest($1::uuid[]) WITH ORDINALITY AS t(u, n)`, [users])
  await sql.query(`INSERT INTO conversations (id, kind, created_by) SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[])`, [
    fixture.conversations.map((c) => c.id),
    fixture.conversations.map(() => 'group'),
    fixture.conversations.map((c) => c.members[0]!.user),
  ])
  const pairs = fixture.conversations.flatMap((c) => c.members.map((m) => [c.id, m.user] as const))
  await sql.query(`INSERT INTO members (conversation_id, user_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])`, [
    pairs.map((p) => p[0]),
    pairs.map((p) => p[1]),
  ])
  return fixture
}

/** Every run starts from an empty messages table and last_seq = 0. */
async function reset(sql: Sql): Promise<void> {
  await sql.exec('TRUNCATE messages; UPDATE conversations SET last_seq = 0, last_ts = NULL')
  if (sql.kind === 'postgres') await sql.exec('VACUUM ANALYZE conversations')
}

async function countMessages(sql: Sql): Promise<{rows: number; lastSeqSum: number}> {
  const {rows} = await sql.query<{rows: number; last_seq_sum: number}>(
    'SELECT (SELECT count(*) FROM messages)::int AS rows, (SELECT coalesce(sum(last_seq), 0) FROM conversations)::int AS last_seq_sum',
  )
  return {rows: rows[0]!.rows, lastSeqSum: rows[0]!.last_seq_sum}
}

/** Deterministic traffic: random conversation, random member as sender, a short text body. */
function createTraffic(fixture: Fixture, seed: number): {next(): IngestEnvelope} {
  const random = mulberry32(seed)
  let n = 0
  return {
    next() {
      const conv = fixture.conversations[Math.floor(random() * fixture.conversations.length)]!
      const member = conv.members[Math.floor(random() * conv.members.length)]!
      n++
      return {
        v: 1,
        conv: conv.id,
        sender: member.user,
        senderDevice: member.device,
        clientMsgId: `bench-${seed}-${n}`,
        kind: 'text',
        body: `hey, are we still on for lunch tomorrow? message ${n}`,
        gw: 'gateway-bench',
        at: Date.now(),
      }
    },
  }
}

function toTable(target: StoreTargetResult): Table {
  return {
    title: `store-batch — ${target.target}: ${target.detail}`,
    columns: ['path', 'batch', 'messages', 'time s', 'msgs/s', 'ratio', 'last 1 s', 'latency p50', 'p99', 'verified'],
    rows: target.runs.map((r) => [
      r.path,
      r.batchSize,
      fmtInt(r.messages),
      (r.elapsedMs / 1000).toFixed(1) + (r.stoppedBy === 'time' ? '*' : ''),
      fmtInt(r.messagesPerSecond),
      fmtRatio(r.ratio),
      fmtInt(r.tailMessagesPerSecond),
      r.latency ? `${r.latency.p50.toFixed(2)} ms/${r.latency.per}` : '',
      r.latency ? `${r.latency.p99.toFixed(2)} ms` : '',
      r.verified ? 'yes' : 'NO',
    ]),
    notes: [
      'ratio = msgs/s ÷ the single-row baseline on the same database in this run (higher is better).',
      'worker batch = storeBatch, the worker\'s own code: planBatch + one transaction (CAS last_seq, sender watermarks, one multi-row INSERT; idempotency by ON CONFLICT, looked up only on a hit).',
      'last 1 s = msgs/s over the final second (the table grows during a run).',
      'Each run starts from an empty messages table; * = stopped by the time bound before the row bound.',
    ],
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return url
  }
}
