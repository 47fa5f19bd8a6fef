import {MsgrError} from '../../errors.js'
import {LIMITS, type SearchHit, type SearchResult} from '../../protocol/frames.js'
import type {Sql} from '../ports.js'
import {decodeSearchCursor, encodeSearchCursor, type SearchCursorKey} from '../search-cursor.js'
import {assertMember, type MessageRow, toMessageView} from './conversations.js'

// Server-side full-text search over the messages of the caller's current conversations, newest first.
// Matches the exact expression of the GIN index messages_search_idx (migration 3), so Postgres answers
// with a bitmap index scan per partition; end-to-end-encrypted kinds index as '' and never match.

export interface SearchOptions {
  /** websearch syntax: words (all must match), "quoted phrases", -excluded, or. */
  query: string
  /** Only this conversation (the caller must be a member). */
  conversation?: string
  /** Page size, 1..LIMITS.maxSearchLimit; default LIMITS.defaultSearchLimit. */
  limit?: number
  /** The `cursor` of the previous page. */
  cursor?: string
}

export async function searchMessages(sql: Sql, user: string, options: SearchOptions): Promise<SearchResult> {
  const query = options.query.trim()
  if (query === '') throw new MsgrError('invalid_request', 'search query is empty')
  const limit = options.limit ?? LIMITS.defaultSearchLimit
  if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.maxSearchLimit) {
    throw new MsgrError('invalid_request', `search limit must be 1..${LIMITS.maxSearchLimit}`)
  }
  const after = options.cursor === undefined ? undefined : decodeSearchCursor(options.cursor)
  await assertSearchable(sql, query)
  if (options.conversation !== undefined) await assertMember(sql, options.conversation, user)

  const {rows} = await sql.query<HitRow>(searchSql(options.conversation !== undefined, after !== undefined), [
    user,
    query,
    limit,
    ...(options.conversation === undefined ? [] : [options.conversation]),
    ...(after === undefined ? [] : [after.ts, after.conversation, after.seq]),
  ])
  const page = rows.slice(0, limit)
  const results = page.map((row): SearchHit => {
    const hit: SearchHit = toMessageView(row)
    if (row.rank !== null) hit.rank = row.rank
    if (row.snippet !== null) hit.snippet = row.snippet
    return hit
  })
  const last = page.at(-1)
  return rows.length > limit && last ? {results, cursor: encodeSearchCursor(keyOf(last))} : {results}
}

/** Markers around matched words in `snippet` (plain text: clients must not render it as HTML). */
export const SNIPPET_MARKS = {start: '«', stop: '»'} as const

// The indexed expression, verbatim: any other spelling and the planner cannot use messages_search_idx.
const DOCUMENT = `to_tsvector('simple', msgr_search_text(m.kind, m.body))`
const QUERY = `websearch_to_tsquery('simple', $2)`
const HEADLINE_OPTIONS = `StartSel=${SNIPPET_MARKS.start}, StopSel=${SNIPPET_MARKS.stop}, MinWords=10, MaxWords=30, ShortWord=0`

/**
 * $1 user, $2 query, $3 limit, then $4 conversation (when filtered), then the cursor key. Fetches one
 * row more than the page to know whether another page follows; ts_headline and ts_rank run in the
 * outer query, after the LIMIT, and only for rows of the page (row_number <= limit).
 */
function searchSql(filtered: boolean, paged: boolean): string {
  const k = filtered ? 5 : 4
  return `
SELECT p.conversation_id, p.seq, p.id, p.sender_id, p.sender_device, p.client_msg_id, p.kind, p.body, p.reply_to,
       p.created_at, p.meta, p.edited_at, p.version,
       to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS sort_ts,
       CASE WHEN row_number() OVER w <= $3
         THEN ts_headline('simple', msgr_search_text(p.kind, p.body), ${QUERY}, '${HEADLINE_OPTIONS}') END AS snippet,
       CASE WHEN row_number() OVER w <= $3
         THEN ts_rank(to_tsvector('simple', msgr_search_text(p.kind, p.body)), ${QUERY}) END AS rank
  FROM (
    SELECT m.conversation_id, m.seq, m.id, m.sender_id, m.sender_device, m.client_msg_id, m.kind, m.body, m.reply_to,
           m.created_at, m.meta, m.edited_at, m.version
      FROM messages m
      JOIN members mem ON mem.conversation_id = m.conversation_id AND mem.user_id = $1
     WHERE ${DOCUMENT} @@ ${QUERY}
       AND m.deleted_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $1 AND h.conversation_id = m.conversation_id AND h.seq = m.seq)
       ${filtered ? 'AND m.conversation_id = $4' : ''}
       ${paged ? `AND (m.created_at, m.conversation_id, m.seq) < ($${k}::timestamptz, $${k + 1}::uuid, $${k + 2}::bigint)` : ''}
     ORDER BY m.created_at DESC, m.conversation_id DESC, m.seq DESC
     LIMIT $3 + 1
  ) p
WINDOW w AS (ORDER BY p.created_at DESC, p.conversation_id DESC, p.seq DESC)
ORDER BY p.created_at DESC, p.conversation_id DESC, p.seq DESC`
}

/** A query with nothing to look up (only punctuation, or only -exclusions) would scan everything. */
async function assertSearchable(sql: Sql, query: string): Promise<void> {
  // querytree: the part of a tsquery an index can use; '' (no lexemes) or 'T' (nothing positive).
  const {rows} = await sql.query<{tree: string}>(`SELECT querytree(websearch_to_tsquery('simple', $1)) AS tree`, [query])
  const tree = rows[0]?.tree ?? ''
  if (tree === '' || tree === 'T') throw new MsgrError('invalid_request', 'search query needs at least one word to look for')
}

interface HitRow extends MessageRow {
  sort_ts: string
  snippet: string | null
  rank: number | null
}

function keyOf(row: HitRow): SearchCursorKey {
  return {ts: row.sort_ts, conversation: row.conversation_id, seq: row.seq}
}
