import {describe, expect, it} from 'vitest'

import {deadLettersTable, deadLetterView} from '../../../src/cli/push-format.js'
import {encodeJob} from '../../../src/core/push/job.js'

describe('msgr push dead-letters output', () => {
  const job = {v: 1 as const, user: 'u1', device: 'd1', conversation: 'c1', seq: 7, sender: 's', kind: 'text', preview: 'hi', ts: '2026-11-29T10:00:00.000Z'}

  it('decodes the job of each dead letter; a malformed one still shows', () => {
    const good = deadLetterView({seq: 3, data: encodeJob(job), reason: 'transient: push service answered 500', attempts: 6, at: Date.parse('2026-11-29T10:01:00Z')})
    expect(good).toEqual({seq: 3, at: '2026-11-29T10:01:00.000Z', attempts: 6, reason: 'transient: push service answered 500', device: 'd1', user: 'u1', conversation: 'c1', messageSeq: 7})
    const bad = deadLetterView({seq: 4, data: new TextEncoder().encode('{'), reason: 'malformed job', attempts: 1, at: 0})
    expect(bad).toMatchObject({device: null, conversation: null, messageSeq: null})
    const table = deadLettersTable([good, bad]).split('\n')
    expect(table).toHaveLength(3)
    expect(table[1]).toMatch(/^3 +2026-11-29T10:01:00.000Z +6 +d1 +c1#7 +transient: push service answered 500$/)
    expect(table[2]).toContain('(malformed)')
    expect(deadLettersTable([])).toBe('no dead letters')
  })
})
