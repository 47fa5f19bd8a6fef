import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {OP_NAMES} from '../../../src/protocol/frames.js'

// docs/protocol.md is the full protocol reference: every op the server accepts must be documented there.

const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8')

describe('docs/protocol.md', () => {
  it.each(OP_NAMES)('documents the op %s', (op) => {
    expect(doc).toContain(`\`${op}\``)
  })

  it('documents every server event', () => {
    for (const ev of ['hello', 'message', 'receipt', 'typing', 'presence', 'reconnect', 'error', 'group.request', 'hidden', 'keys.low']) {
      expect(doc, ev).toContain(`\`${ev}\``)
    }
  })
})
