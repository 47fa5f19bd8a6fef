import {createPostgresSql} from '../src/adapters/postgres/sql.js'
import {newId} from '../src/core/ids.js'
import type {Sql} from '../src/core/ports.js'
import {migrate} from '../src/core/store/migrate.js'
import {searchMessages} from '../src/core/store/search.js'
import {type Bounds, fmtInt, fmtRatio, type LatencySummary, progress, round, runBounded} from './measure.js'
import {adminUrl, createThrowawayDatabase} from './pg-database.js'
import {mulberry32} from './random.js'
import type {Table} from './table.js'

// Message search (src/core/store/search.ts) on real Postgres: the plan of every query shape (it must
// reach the GIN index messages_search_idx through a bitmap index scan) and its latency through
// searchMessages, the gateway's own code. Baseline: the same page found the naive way, ILIKE '%word%'
// over the same text (no index can help), same database, same run.

export interface SearchBenchOptions {
  messages: number
  directConversations: number
  groups: number
  groupSize: number
  /** Conversations the searching user is in (directs + groups, one of them the large group). */
  searcherDirects: number
  searcherGroups: number
  /** Messages of the one large group the searcher is in (per-conversation search). */
  largeGroupMessages: number
  perQuery: Bounds
  requirePostgres: boolean
}

export const SEARCH_DEFAULTS: SearchBenchOptions = {
  messages: 50_000,
  directConversations: 1000,
  groups: 50,
  groupSize: 40,
  searcherDirects: 30,
  searcherGroups: 10,
  largeGroupMessages: 5000,
  perQuery: {maxCount: 300, maxMs: 3000},
  requirePostgres: process.env.MSGR_REQUIRE_SERVICES === '1',
}

export interface PlanSummary {
  /** A Bitmap Index Scan on a partition of messages_search_idx answered the text match. */
  usesSearchIndex: boolean
  /** Partitions whose search index was scanned, and how many index scans ran in total (loops). */
  indexScans: number
  nodes: string[]
  executionMs: number
  planningMs: number
  rowsMatchedByIndex: number
}

export interface SearchQueryResult {
  name: string
  query: string
  conversation: boolean
  page: number
  hits: number
  plan: PlanSummary
  latency?: LatencySummary
  baseline?: {latency?: LatencySummary; speedup: number}
}

export interface SearchResultSet {
  setup: Omit<SearchBenchOptions, 'perQuery' | 'requirePostgres'> & {perQuery: Bounds; server: string}
  queries: SearchQueryResult[]
  skipped?: {target: 'postgres'; reason: string}
}

export async function benchSearch(options: SearchBenchOptions = SEARCH_DEFAULTS): Promise<{result: SearchResultSet; tables: Table[]}> {
  const {perQuery, requirePostgres, ...rest} = options
  const admin = adminUrl()
  const db = await createThrowawayDatabase(admin)
  if ('error' in db) {
    const reason = `Postgres is unreachable (${db.error})`
    if (requirePostgres) throw new Error(`MSGR_REQUIRE_SERVICES=1 and ${reason}`)
    process.stdout.write(`\n!!! SKIPPING search: ${reason}. Start Postgres or set MSGR_BENCH_DATABASE_URL.\n`)
    return {result: {setup: {...rest, perQuery, server: 'none'}, queries: [], skipped: {target: 'postgres', reason}}, tables: []}
  }
  const sql = createPostgresSql({url: db.url, max: 2, applicationName: 'msgr-bench'})
  try {
    progress(`search: migrating and seeding ${fmtInt(options.messages)} messages`)
    await migrate(sql)
    const fixture = await seed(sql, options)
    await sql.exec('VACUUM ANALYZE')
    const queries: SearchQueryResult[] = []
    for (const shape of shapes(fixture)) queries.push(await measure(sql, fixture, shape, perQuery))
    const result: SearchResultSet = {setup: {...rest, perQuery, server: `Postgres ${db.serverVersion}`}, queries}
    return {result, tables: [toTable(result)]}
  } finally {
    await sql.close()
    await db.drop()
  }
}

export interface Fixture {
  searcher: string
  largeGroup: string
  /** Words by frequency rank (0 = most common) and how many messages hold each of the marker words. */
  vocabulary: string[]
}

interface Shape {
  name: string
  query: string
  conversation?: string
  /** Search the second page (cursor of the first). */
  secondPage?: boolean
  /** A single word the ILIKE baseline can look for. */
  baselineWord?: string
}

function shapes(f: Fixture): Shape[] {
  const [common, second] = [f.vocabulary[0]!, f.vocabulary[1]!]
  const medium = f.vocabulary[60]!
  return [
    {name: 'rare word', query: RARE, baselineWord: RARE},
    {name: 'medium word', query: medium, baselineWord: medium},
    {name: 'most common word', query: common, baselineWord: common},
    {name: 'most common, page 2', query: common, secondPage: true},
    {name: 'two words (AND)', query: `${medium} ${f.vocabulary[40]!}`},
    {name: 'quoted phrase', query: `"${common} ${second}"`},
    {name: 'word -exclusion', query: `${medium} -${common}`},
    {name: 'one conversation, common word', query: common, conversation: f.largeGroup, baselineWord: common},
    {name: 'one conversation, rare word', query: RARE, conversation: f.largeGroup},
  ]
}

const RARE = 'zanzibar'

async function measure(sql: Sql, f: Fixture, shape: Shape, bounds: Bounds): Promise<SearchQueryResult> {
  const args = {query: shape.query, conversation: shape.conversation, limit: 20}
  const first = await searchMessages(sql, f.searcher, args)
  const cursor = shape.secondPage ? first.cursor : undefined
  const pageArgs = {...args, cursor}
  const page = await searchMessages(sql, f.searcher, pageArgs)
  const plan = await explainOf(sql, f.searcher, pageArgs)
  const run = await runBounded(`search ${shape.name}`, bounds, async () => (await searchMessages(sql, f.searcher, pageArgs), 1), {
    latencyPer: 'search',
    unit: 'searches',
  })
  const result: SearchQueryResult = {
    name: shape.name,
    query: shape.query,
    conversation: shape.conversation !== undefined,
    page: shape.secondPage ? 2 : 1,
    hits: page.results.length,
    plan,
    latency: run.latency,
  }
  if (shape.baselineWord) {
    const word = shape.baselineWord
    const naive = () => naiveSearch(sql, f.searcher, word, shape.conversation)
    if ((await naive()).length === 0 && page.results.length > 0) throw new Error(`the ILIKE baseline found nothing for ${word}`)
    const base = await runBounded(`search ${shape.name} (ILIKE baseline)`, {maxCount: Math.min(bounds.maxCount, 50), maxMs: bounds.maxMs}, async () => (await naive(), 1), {
      latencyPer: 'search',
      unit: 'searches',
    })
    result.baseline = {latency: base.latency, speedup: round((base.latency?.p50 ?? 0) / (run.latency?.p50 ?? 1), 1)}
  }
  return result
}

/** Runs searchMessages once with every statement captured, then EXPLAINs the one that searched. */
async function explainOf(sql: Sql, user: string, args: Parameters<typeof searchMessages>[2]): Promise<PlanSummary> {
  let captured: {text: string; params: unknown[]} | undefined
  const spy: Sql = {
    ...sql,
    query: (text, params) => {
      if (text.includes('ts_headline')) captured = {text, params: params ?? []}
      return sql.query(text, params)
    },
  }
  await searchMessages(spy, user, args)
  if (!captured) throw new Error('searchMessages ran no search query')
  const {rows} = await sql.query<{'QUERY PLAN': Array<{Plan: PlanNode; 'Planning Time': number; 'Execution Time': number}>}>(
    `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${captured.text}`,
    captured.params,
  )
  const top = rows[0]!['QUERY PLAN'][0]!
  const nodes: string[] = []
  let indexScans = 0
  let rowsMatchedByIndex = 0
  const walk = (node: PlanNode) => {
    const label = node['Index Name'] ? `${node['Node Type']} on ${node['Index Name']}` : node['Node Type']
    if (node['Node Type'] === 'Bitmap Index Scan' && /to_tsvector_idx|search_idx/.test(node['Index Name'] ?? '')) {
      indexScans += node['Actual Loops'] ?? 1
      rowsMatchedByIndex += (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1)
      if (!nodes.includes('Bitmap Index Scan on messages_search_idx partitions')) nodes.push('Bitmap Index Scan on messages_search_idx partitions')
    } else if (!nodes.includes(label)) {
      nodes.push(label)
    }
    for (const child of node.Plans ?? []) walk(child)
  }
  walk(top.Plan)
  return {
    usesSearchIndex: indexScans > 0,
    indexScans,
    nodes,
    executionMs: round(top['Execution Time'], 2),
    planningMs: round(top['Planning Time'], 2),
    rowsMatchedByIndex,
  }
}

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  'Actual Rows'?: number
  'Actual Loops'?: number
  Plans?: PlanNode[]
}

/** The same first page, found without the index. */
async function naiveSearch(sql: Sql, user: string, word: string, conversation?: string): Promise<unknown[]> {
  const {rows} = await sql.query(
    `SELECT m.conversation_id, m.seq, m.body FROM messages m
       JOIN members mem ON mem.conversation_id = m.conversation_id AND mem.user_id = $1
      WHERE msgr_search_text(m.kind, m.body) ILIKE '%' || $2 || '%' AND m.deleted_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $1 AND h.conversation_id = m.conversation_id AND h.seq = m.seq)
        ${conversation ? 'AND m.conversation_id = $3' : ''}
      ORDER BY m.created_at DESC, m.conversation_id DESC, m.seq DESC LIMIT 21`,
    conversation ? [user, word, conversation] : [user, word],
  )
  return rows
}

/**
 * Users, direct conversations and groups; the searcher is in some of each and in one large group.
 * Bodies are sentences over a Zipf-distributed vocabulary; some are objects (caption, file name),
 * system entries, tombstones, or hidden for the searcher.
 */
export async function seed(sql: Sql, o: SearchBenchOptions): Promise<Fixture> {
  const random = mulberry32(7)
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!
  const vocabulary = makeVocabulary(4000)
  const zipf = zipfSampler(vocabulary.length, random)
  const users = Array.from({length: o.directConversations + o.groups * o.groupSize}, () => newId())
  const searcher = users[0]!
  const conversations: Array<{id: string; kind: 'direct' | 'group'; members: string[]}> = []
  for (let i = 0; i < o.directConversations; i++) {
    const a = i < o.searcherDirects ? searcher : users[1 + 2 * i] ?? pick(users)
    conversations.push({id: newId(), kind: 'direct', members: [a, users[2 + 2 * i] ?? pick(users)].filter((u, k, all) => all.indexOf(u) === k)})
  }
  for (let g = 0; g < o.groups; g++) {
    const members = new Set<string>(g < o.searcherGroups ? [searcher] : [])
    while (members.size < o.groupSize) members.add(pick(users))
    conversations.push({id: newId(), kind: 'group', members: [...members]})
  }
  const largeGroup = conversations[o.directConversations]!.id

  await sql.query(`INSERT INTO users (id, phone) SELECT u, '+1555' || lpad(n::text, 7, '0') FROM unnest($1::uuid[]) WITH ORDINALITY AS t(u, n)`, [users])
  await sql.query(`INSERT INTO conversations (id, kind, created_by) SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[])`, [
    conversations.map((c) => c.id),
    conversations.map((c) => c.kind),
    conversations.map((c) => c.members[0]!),
  ])
  const pairs = conversations.flatMap((c) => c.members.map((m) => [c.id, m] as const))
  await sql.query(`INSERT INTO members (conversation_id, user_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])`, [pairs.map((p) => p[0]), pairs.map((p) => p[1])])

  const seqs = new Map<string, number>()
  const start = Date.parse('2030-01-01T00:00:00Z')
  const hidden: Array<[string, number]> = []
  let batch: unknown[][] = []
  const flush = async () => {
    if (batch.length === 0) return
    const cols = batch[0]!.map((_, i) => batch.map((row) => row[i]))
    await sql.query(
      `INSERT INTO messages (conversation_id, seq, id, sender_id, sender_device, client_msg_id, kind, body, created_at, deleted_at)
       SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::jsonb[], $9::timestamptz[], $10::timestamptz[])`,
      cols,
    )
    batch = []
  }
  const sentence = (rare: boolean) => {
    const words = Array.from({length: 4 + Math.floor(random() * 12)}, () => vocabulary[zipf()]!)
    if (rare) words.splice(Math.floor(random() * words.length), 0, RARE)
    return words.join(' ')
  }
  for (let n = 0; n < o.messages; n++) {
    const conv = n < o.largeGroupMessages ? conversations[o.directConversations]! : pick(conversations)
    const seq = (seqs.get(conv.id) ?? 0) + 1
    seqs.set(conv.id, seq)
    const roll = random()
    const rare = random() < 0.0005
    const [kind, body] =
      roll < 0.85
        ? ['text', sentence(rare)]
        : roll < 0.93
          ? ['image', {url: `https://cdn.example/${n}.jpg`, caption: sentence(rare)}]
          : roll < 0.95
            ? ['file', {url: `https://cdn.example/${n}.pdf`, name: `${sentence(false).split(' ').slice(0, 2).join('-')}.pdf`}]
            : ['system', {type: 'update', name: sentence(rare)}]
    const deleted = random() < 0.01
    if (!deleted && random() < 0.01) hidden.push([conv.id, seq])
    // Wall-clock order with bursts: every few messages share a millisecond, as in one worker batch.
    const at = new Date(start + Math.floor(n / 4) * 1000)
    batch.push([conv.id, seq, newId(), pick(conv.members), searcher, `b${n}`, kind, JSON.stringify(deleted ? null : body), at, deleted ? at : null])
    if (batch.length === 5000) await flush()
  }
  await flush()
  await sql.query(`UPDATE conversations c SET last_seq = s.seq FROM unnest($1::uuid[], $2::bigint[]) AS s(id, seq) WHERE c.id = s.id`, [
    [...seqs.keys()],
    [...seqs.values()],
  ])
  await sql.query(`INSERT INTO hidden_messages (user_id, conversation_id, seq) SELECT $1, c, s FROM unnest($2::uuid[], $3::bigint[]) AS t(c, s)`, [
    searcher,
    hidden.map((h) => h[0]),
    hidden.map((h) => h[1]),
  ])
  return {searcher, largeGroup, vocabulary}
}

/** Pronounceable, distinct, lower-case words. */
function makeVocabulary(size: number): string[] {
  const onsets = ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'ch', 'sh', 'tr', 'pl']
  const vowels = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou']
  const words = new Set<string>()
  for (let i = 0; words.size < size; i++) {
    let w = ''
    let x = i
    do {
      w += onsets[x % onsets.length]! + vowels[Math.floor(x / onsets.length) % vowels.length]!
      x = Math.floor(x / (onsets.length * vowels.length))
    } while (x > 0)
    if (w !== RARE) words.add(w)
  }
  return [...words]
}

/** Ranks 0..n-1 with P(rank k) ∝ 1/(k+1): a few very common words, a long tail of rare ones. */
function zipfSampler(n: number, random: () => number): () => number {
  const cumulative: number[] = []
  let total = 0
  for (let k = 0; k < n; k++) cumulative.push((total += 1 / (k + 1)))
  return () => {
    const target = random() * total
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cumulative[mid]! < target) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

function toTable(result: SearchResultSet): Table {
  const ms = (l?: LatencySummary) => (l ? `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)}` : '')
  return {
    title: `search — ${result.setup.server}, ${fmtInt(result.setup.messages)} messages, searcher in ${result.setup.searcherDirects + result.setup.searcherGroups} conversations`,
    columns: ['query', 'hits', 'GIN bitmap', 'index rows', 'plan ms', 'exec ms', 'p50 / p99 ms', 'ILIKE p50 / p99 ms', 'speedup'],
    rows: result.queries.map((q) => [
      q.name,
      q.hits,
      q.plan.usesSearchIndex ? `yes (${q.plan.indexScans})` : 'NO',
      fmtInt(q.plan.rowsMatchedByIndex),
      q.plan.planningMs.toFixed(2),
      q.plan.executionMs.toFixed(2),
      ms(q.latency),
      ms(q.baseline?.latency),
      q.baseline ? fmtRatio(q.baseline.speedup) : '',
    ]),
    notes: [
      'GIN bitmap = EXPLAIN ANALYZE shows a Bitmap Index Scan on messages_search_idx (per partition; count of index scans in brackets).',
      'index rows = rows the index scans returned before the membership, tombstone, hidden and keyset filters.',
      'plan ms / exec ms = planning and execution time of the search statement (EXPLAIN ANALYZE, one run).',
      'p50 / p99 = searchMessages end to end (query check, membership check when filtered, the search), one page of 20.',
      'speedup = ILIKE baseline p50 ÷ search p50 (same page, no index usable), same database, this run.',
    ],
  }
}
