import {describe, expect, it} from 'vitest'

import {decodeSearchCursor, encodeSearchCursor, type SearchCursorKey} from '../../../src/core/search-cursor.js'

const KEY: SearchCursorKey = {ts: '2030-01-01T12:00:00.123456Z', conversation: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b', seq: 42}

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

describe('search cursor', () => {
  it('round-trips the sort key and stays URL-safe and short', () => {
    const cursor = encodeSearchCursor(KEY)
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(cursor.length).toBeLessThanOrEqual(200)
    expect(decodeSearchCursor(cursor)).toEqual(KEY)
    const big = {...KEY, ts: '9999-12-31T23:59:59.999999Z', seq: Number.MAX_SAFE_INTEGER}
    expect(decodeSearchCursor(encodeSearchCursor(big))).toEqual(big)
    expect(encodeSearchCursor(big).length).toBeLessThanOrEqual(200)
  })

  it.each([
    ['empty', ''],
    ['not base64url', 'abc+/='],
    ['not JSON', b64('s1:oops')],
    ['an object', b64({ts: KEY.ts, conversation: KEY.conversation, seq: 1})],
    ['another version', b64(['s2', KEY.ts, KEY.conversation, KEY.seq])],
    ['too few parts', b64(['s1', KEY.ts, KEY.conversation])],
    ['too many parts', b64(['s1', KEY.ts, KEY.conversation, KEY.seq, 1])],
    ['a millisecond timestamp', b64(['s1', '2030-01-01T12:00:00.123Z', KEY.conversation, KEY.seq])],
    ['a timestamp with an offset', b64(['s1', '2030-01-01T12:00:00.123456+01:00', KEY.conversation, KEY.seq])],
    ['an impossible date', b64(['s1', '2030-13-45T12:00:00.123456Z', KEY.conversation, KEY.seq])],
    ['SQL in the timestamp', b64(['s1', "2030-01-01'; DROP TABLE messages; --", KEY.conversation, KEY.seq])],
    ['a non-uuid conversation', b64(['s1', KEY.ts, 'conv-1', KEY.seq])],
    ['an upper-case uuid', b64(['s1', KEY.ts, KEY.conversation.toUpperCase(), KEY.seq])],
    ['seq 0', b64(['s1', KEY.ts, KEY.conversation, 0])],
    ['a fractional seq', b64(['s1', KEY.ts, KEY.conversation, 1.5])],
    ['a seq past 2^53', b64(['s1', KEY.ts, KEY.conversation, 2 ** 53])],
    ['a string seq', b64(['s1', KEY.ts, KEY.conversation, '42'])],
  ])('refuses %s with invalid_request', (_name, cursor) => {
    expect(() => decodeSearchCursor(cursor)).toThrow(expect.objectContaining({code: 'invalid_request'}))
  })
})
