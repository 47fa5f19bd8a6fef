import {MsgrError} from '../errors.js'

// The opaque `cursor` of a search page: the sort key (created_at DESC, conversation DESC, seq DESC) of
// the page's last hit. Pure: the next page starts strictly after it.

export interface SearchCursorKey {
  /** created_at as UTC ISO 8601 with microseconds, exactly as Postgres stores it ("…T12:00:00.123456Z"). */
  ts: string
  conversation: string
  seq: number
}

const VERSION = 's1'
const TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function encodeSearchCursor(key: SearchCursorKey): string {
  return Buffer.from(JSON.stringify([VERSION, key.ts, key.conversation, key.seq])).toString('base64url')
}

/** The key inside a cursor; anything this server did not issue is `invalid_request`. */
export function decodeSearchCursor(cursor: string): SearchCursorKey {
  const key = parse(cursor)
  if (!key) throw new MsgrError('invalid_request', 'search cursor is not one this server issued')
  return key
}

function parse(cursor: string): SearchCursorKey | undefined {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) return undefined
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
  if (!Array.isArray(value) || value.length !== 4) return undefined
  const [version, ts, conversation, seq] = value as unknown[]
  if (version !== VERSION) return undefined
  if (typeof ts !== 'string' || !TS.test(ts) || Number.isNaN(Date.parse(ts))) return undefined
  if (typeof conversation !== 'string' || !UUID.test(conversation)) return undefined
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return undefined
  return {ts, conversation, seq}
}
