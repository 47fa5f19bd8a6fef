import {describe, expect, it} from 'vitest'

import {jobFor, notifies, previewOf, type PushJob} from '../../../src/core/push/job.js'
import {DEFAULT_PREFS, inQuietHours, readPrefs} from '../../../src/core/push/prefs.js'
import {dedupe, listNames, summarise} from '../../../src/core/push/summary.js'

const job = (seq: number, sender: string, conversation = 'c1', preview: string | null = `hello ${seq}`): PushJob => ({
  v: 1,
  user: 'u',
  device: 'd',
  conversation,
  seq,
  sender,
  kind: 'text',
  preview,
  ts: new Date(1_700_000_000_000 + seq * 1000).toISOString(),
})
const names = new Map([
  ['alice', 'Alice'],
  ['bob', 'Bob'],
  ['carol', 'Carol'],
  ['dan', 'Dan'],
])

describe('push summary', () => {
  it('one message: the sender and the preview', () => {
    expect(summarise([job(1, 'alice')], names, DEFAULT_PREFS, false)).toMatchObject({title: 'Alice', body: 'hello 1', count: 1, latest: {c1: 1}})
  })

  it('previews off: no content', () => {
    expect(summarise([job(1, 'alice')], names, {...DEFAULT_PREFS, previews: false}, false).body).toBe('New message')
  })

  it('a burst becomes one notification naming the senders', () => {
    const n = summarise([job(1, 'alice'), job(2, 'bob'), job(3, 'alice', 'c2')], names, DEFAULT_PREFS, true)
    expect(n).toMatchObject({title: '3 new messages', body: '3 new messages from Alice, Bob', count: 3, conversations: ['c1', 'c2'], latest: {c1: 2, c2: 3}, silent: true})
  })

  it('many senders are cut to three and a count', () => {
    expect(listNames(['Alice', 'Bob', 'Carol', 'Dan', 'Eve'])).toBe('Alice, Bob, Carol and 2 others')
    expect(listNames(['Alice', 'Bob', 'Carol', 'Dan'])).toBe('Alice, Bob, Carol and 1 other')
  })

  it('the same message queued twice counts once', () => {
    expect(dedupe([job(2, 'bob'), job(1, 'alice'), job(2, 'bob')]).map((j) => j.seq)).toEqual([1, 2])
    expect(summarise([job(1, 'alice'), job(1, 'alice')], names, DEFAULT_PREFS, false).count).toBe(1)
  })

  it('unknown senders show as Someone', () => {
    expect(summarise([job(1, 'zed')], names, DEFAULT_PREFS, false).title).toBe('Someone')
  })
})

describe('push jobs', () => {
  const event = {ev: 'message' as const, conversation: 'c', seq: 4, messageId: 'm', sender: 's', senderDevice: 'sd', ts: 't', kind: 'text', body: 'hi  there', clientMsgId: 'x'}

  it('only people’s messages notify', () => {
    expect(notifies(event)).toBe(true)
    for (const kind of ['system', 'reaction', 'edit', 'delete']) expect(notifies({...event, kind})).toBe(false)
    expect(notifies({ev: 'typing'})).toBe(false)
  })

  it('previews are short plain text; encrypted and media bodies have none', () => {
    expect(jobFor(event, 'u', 'd')).toMatchObject({user: 'u', device: 'd', conversation: 'c', seq: 4, preview: 'hi there'})
    expect(previewOf('encrypted', {text: 'secret'})).toBeNull()
    expect(previewOf('image', {media: 'x'})).toBeNull()
    expect(previewOf('image', {media: 'x', caption: 'look'})).toBe('look')
    expect(previewOf('text', 'x'.repeat(500))!.length).toBe(120)
  })
})

describe('notification preferences', () => {
  it('fills defaults and ignores garbage', () => {
    expect(readPrefs({})).toEqual({enabled: true, previews: true, quietHours: null})
    expect(readPrefs({previews: 'no'})).toEqual(DEFAULT_PREFS)
  })

  it('quiet hours, including windows that wrap midnight and UTC offsets', () => {
    const at = (hhmm: string) => Date.parse(`2026-11-29T${hhmm}:00Z`)
    const night = readPrefs({quietHours: {start: '22:00', end: '07:00'}})
    expect(inQuietHours(night, at('23:30'))).toBe(true)
    expect(inQuietHours(night, at('06:59'))).toBe(true)
    expect(inQuietHours(night, at('07:00'))).toBe(false)
    expect(inQuietHours(night, at('12:00'))).toBe(false)
    const lunch = readPrefs({quietHours: {start: '12:00', end: '13:00', utcOffsetMin: 120}})
    expect(inQuietHours(lunch, at('10:30'))).toBe(true)
    expect(inQuietHours(lunch, at('12:30'))).toBe(false)
    expect(inQuietHours(DEFAULT_PREFS, at('23:30'))).toBe(false)
  })
})
