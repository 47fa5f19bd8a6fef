import {existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {initialState, reduce} from '../../../src/chat/model.js'
import {defaultConfigDir, lastPhone, openProfile, restore} from '../../../src/chat/store.js'

const dirs: string[] = []
const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'msgr-chat-store-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

const ME = {userId: 'u-me', deviceId: 'd-me'}
const auth = {url: 'http://x:8080', phone: '+15550001111', userId: 'u-me', deviceId: 'd-me', accessToken: 'a', refreshToken: 'r', accessExpiresAt: 1}

describe('chat config dir', () => {
  it('keeps one profile per phone, remembers the last one, and writes tokens only for the owner', () => {
    const dir = tmp()
    expect(lastPhone(dir)).toBeUndefined()
    const store = openProfile(dir, '+15550001111')
    expect(store.dir).toBe(join(dir, 'profiles', '15550001111'))
    expect(lastPhone(dir)).toBe('+15550001111')
    expect(store.readAuth()).toBeUndefined()
    store.writeAuth(auth)
    expect(store.readAuth()).toEqual(auth)
    expect(statSync(join(store.dir, 'auth.json')).mode & 0o777).toBe(0o600)
    // Atomic writes leave no temporary files behind.
    expect(readdirSync(store.dir).sort()).toEqual(['auth.json'])
    openProfile(dir, '+15550002222')
    expect(lastPhone(dir)).toBe('+15550002222')
    expect(defaultConfigDir({MSGR_CONFIG_DIR: '/c'})).toBe('/c')
    expect(defaultConfigDir({XDG_CONFIG_HOME: '/x'})).toBe(join('/x', 'msgr'))
  })

  it('saves cursors, messages and the outbox but not typing; restores them; a reset forgets state and keys', () => {
    const store = openProfile(tmp(), '+15550001111')
    let state = initialState(ME)
    state = reduce(state, {type: 'conversation', id: 'c1', kind: 'direct', members: ['u-me', 'u-b']})
    state = reduce(state, {
      type: 'messages',
      conversation: 'c1',
      messages: [{seq: 1, messageId: 'm', sender: 'u-b', senderDevice: 'd', ts: 't', kind: 'text', body: 'hi', text: 'hi', clientMsgId: 'x'}],
    })
    state = reduce(state, {type: 'typing', event: {conversation: 'c1', user: 'u-b', state: true, expiresInMs: 6000}, now: 0})
    state = reduce(state, {type: 'queued', pending: {conversation: 'c1', clientMsgId: 'k1', text: 'later'}})
    state = reduce(state, {type: 'queued', pending: {conversation: 'c1', clientMsgId: 'k2', text: 'refused'}})
    state = reduce(state, {type: 'send-failed', clientMsgId: 'k2', error: 'forbidden'})
    state = reduce(state, {type: 'inbox-token', token: 'tok'})
    store.writeState(state)

    const back = restore(initialState(ME), store.readState())
    expect(back.conversations.c1).toMatchObject({cursor: 1, typing: {}})
    expect(back.conversations.c1!.messages[0]!.text).toBe('hi')
    expect(back.inboxToken).toBe('tok')
    // The outbox survives a restart (sent again with the same clientMsgId); refused messages do not.
    expect(back.outbox.map((p) => p.clientMsgId)).toEqual(['k1'])

    mkdirSync(store.e2eDir, {recursive: true})
    writeFileSync(join(store.e2eDir, 'keys.json'), '{}')
    store.reset()
    expect(store.readState()).toBeUndefined()
    expect(existsSync(store.e2eDir)).toBe(false)
  })
})
