import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {newPreKeys, newState, registration} from '../../../src/client/e2e/keygen.js'
import {appendHistory, HISTORY_FILE, loadHistory, loadState, saveState, STATE_FILE} from '../../../src/client/e2e/state.js'
import {parseIdentityKey, verifyKyberPreKey, verifySignedPreKey} from '../../../src/core/e2e/keys.js'

// A device's E2E state on disk: atomic replace, private files, a history that survives a torn last line.

describe('E2E device state', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'msgr-e2e-state-'))
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('round-trips the state through a private file and reads a missing one as undefined', async () => {
    expect(await loadState(join(dir, 'none'))).toBeUndefined()
    const state = newState('u', 'd', 1000)
    newPreKeys(state, 3)
    await saveState(dir, state)
    expect(await loadState(dir)).toEqual(state)
    expect((await stat(join(dir, STATE_FILE))).mode & 0o777).toBe(0o600)
  })

  it('keeps the history in order and skips a torn last line', async () => {
    await appendHistory(dir, {conversation: 'c', seq: 1, sender: 'u', text: 'one'})
    await appendHistory(dir, {conversation: 'c', seq: 2, sender: 'u', text: 'two', replyTo: 1})
    await writeFile(join(dir, HISTORY_FILE), (await readFile(join(dir, HISTORY_FILE), 'utf8')) + '{"conversation":"c","se')
    expect((await loadHistory(dir)).map((r) => r.text)).toEqual(['one', 'two'])
  })

  it('registers keys the server-side rules accept: signatures by the identity key, parseable keys', () => {
    const state = newState('u', 'd', 1000)
    const upload = registration(state, newPreKeys(state, 2)) as {
      identityKey: string
      signedPreKey: {id: number; publicKey: string; signature: string}
      kyberPreKey: {id: number; publicKey: string; signature: string}
      preKeys: Array<{id: number; publicKey: string}>
    }
    const identity = parseIdentityKey(upload.identityKey)
    expect(() => verifySignedPreKey(identity, upload.signedPreKey)).not.toThrow()
    expect(() => verifyKyberPreKey(identity, upload.kyberPreKey)).not.toThrow()
    expect(new Set(upload.preKeys.map((k) => k.id)).size).toBe(2)
  })
})
