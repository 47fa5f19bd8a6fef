import {describe, expect, it} from 'vitest'

import {type Decoded, decodeRequest, encodeErrorReply, encodeEvent, encodeReply} from '../../../src/protocol/codec.js'
import {LIMITS, OP_NAMES, requestSchemas, type Request, type ServerEvent} from '../../../src/protocol/frames.js'

const CONV = '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b'
const USER = '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7c'
const USER2 = '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7d'

const sendArgs = {conversation: CONV, clientMsgId: 'c-1', kind: 'text', body: 'hello'}

describe('decodeRequest: valid frames', () => {
  it('covers every op in requestSchemas', () => {
    // Keeps this suite honest: a new op must get a case below.
    expect([...OP_NAMES].sort()).toEqual([
      'conv.direct',
      'conv.settings',
      'delete',
      'device.list',
      'device.logout',
      'device.rename',
      'edit',
      'forward',
      'group.add',
      'group.approve',
      'group.ban',
      'group.create',
      'group.delete',
      'group.demote',
      'group.deny',
      'group.info',
      'group.invite.create',
      'group.invite.revoke',
      'group.join',
      'group.leave',
      'group.promote',
      'group.remove',
      'group.requests',
      'group.unban',
      'group.update',
      'inbox',
      'keys.bundle',
      'keys.count',
      'keys.devices',
      'keys.upload',
      'notify.prefs',
      'ping',
      'presence.get',
      'presence.set',
      'push.history',
      'push.register',
      'push.unregister',
      'react',
      'receipt',
      'search',
      'send',
      'sync',
      'typing',
      'user.block',
      'user.blocks',
      'user.unblock',
      'versions',
    ])
    expect(Object.keys(requestSchemas).sort()).toEqual([...OP_NAMES].sort())
  })

  it('ping, from a Buffer and from a string', () => {
    const text = '{"id":"r1","op":"ping"}'
    expect(decodeRequest(Buffer.from(text))).toEqual({ok: true, request: {id: 'r1', op: 'ping', args: {}}})
    expect(decodeRequest(text)).toEqual({ok: true, request: {id: 'r1', op: 'ping', args: {}}})
  })

  it('conv.direct', () => {
    expect(request({id: 'r2', op: 'conv.direct', with: USER})).toEqual({id: 'r2', op: 'conv.direct', args: {with: USER}})
  })

  it('send with a string body, an object body and a replyTo', () => {
    expect(request({id: 'r3', op: 'send', ...sendArgs})).toEqual({id: 'r3', op: 'send', args: sendArgs})
    const rich = {...sendArgs, kind: 'image.v2', body: {url: 'https://x/y.png', w: 10, nested: {a: [1, 2]}}, replyTo: 7}
    expect(request({id: 'r4', op: 'send', ...rich})).toEqual({id: 'r4', op: 'send', args: rich})
  })

  it('send accepts a clientMsgId of exactly the limit and non-ASCII text', () => {
    const clientMsgId = 'x'.repeat(LIMITS.maxClientMsgId)
    const args = {...sendArgs, clientMsgId, body: 'héllo 👋 — ✓'}
    expect(request(Buffer.from(JSON.stringify({id: 'r5', op: 'send', ...args}), 'utf8'))).toEqual({id: 'r5', op: 'send', args})
  })

  it('sync fills in after=0 and limit=100', () => {
    expect(request({id: 'r6', op: 'sync', conversation: CONV})).toEqual({
      id: 'r6',
      op: 'sync',
      args: {conversation: CONV, after: 0, limit: LIMITS.defaultSyncLimit},
    })
    expect(LIMITS.defaultSyncLimit).toBe(100)
    expect(request({id: 'r7', op: 'sync', conversation: CONV, after: 42, limit: 500})).toEqual({
      id: 'r7',
      op: 'sync',
      args: {conversation: CONV, after: 42, limit: 500},
    })
  })

  it('inbox with and without a token', () => {
    expect(request({id: 'r8', op: 'inbox'})).toEqual({id: 'r8', op: 'inbox', args: {}})
    expect(request({id: 'r9', op: 'inbox', after: 'tok-123'})).toEqual({id: 'r9', op: 'inbox', args: {after: 'tok-123'}})
  })

  it('search fills in limit=20 and keeps conversation and cursor', () => {
    expect(request({id: 's1', op: 'search', query: 'hello'})).toEqual({id: 's1', op: 'search', args: {query: 'hello', limit: LIMITS.defaultSearchLimit}})
    const full = {query: '"exact phrase" -not', conversation: CONV, limit: LIMITS.maxSearchLimit, cursor: 'abc_-'}
    expect(request({id: 's2', op: 'search', ...full})).toEqual({id: 's2', op: 'search', args: full})
  })

  it('receipt, delivered and read', () => {
    for (const type of ['delivered', 'read'] as const) {
      expect(request({id: 'r10', op: 'receipt', conversation: CONV, type, seq: 3})).toEqual({
        id: 'r10',
        op: 'receipt',
        args: {conversation: CONV, type, seq: 3},
      })
    }
  })

  it('conv.settings with muted, archived or both', () => {
    expect(request({id: 's1', op: 'conv.settings', conversation: CONV, muted: true})).toEqual({id: 's1', op: 'conv.settings', args: {conversation: CONV, muted: true}})
    expect(request({id: 's2', op: 'conv.settings', conversation: CONV, archived: false})).toEqual({
      id: 's2',
      op: 'conv.settings',
      args: {conversation: CONV, archived: false},
    })
    expect(request({id: 's3', op: 'conv.settings', conversation: CONV, muted: false, archived: true}).args).toEqual({conversation: CONV, muted: false, archived: true})
  })

  it('group.create fills in members=[]; description and picture are optional', () => {
    expect(request({id: 'g1', op: 'group.create', name: 'Trip'})).toEqual({id: 'g1', op: 'group.create', args: {name: 'Trip', members: []}})
    const full = {name: 'n'.repeat(100), members: [USER, USER2], description: 'd'.repeat(500), picture: 'https://x/p.png'}
    expect(request({id: 'g2', op: 'group.create', ...full})).toEqual({id: 'g2', op: 'group.create', args: full})
    expect(request({id: 'g3', op: 'group.create', name: 'Trip', description: ''}).args).toEqual({name: 'Trip', members: [], description: ''})
  })

  it('group ops that take only a conversation: info, leave, delete, requests', () => {
    for (const op of ['group.info', 'group.leave', 'group.delete', 'group.requests'] as const) {
      expect(request({id: 'g4', op, conversation: CONV})).toEqual({id: 'g4', op, args: {conversation: CONV}})
    }
  })

  it('group.update with any one of name, description, picture', () => {
    for (const change of [{name: 'New'}, {description: ''}, {picture: 'https://x/q.png'}, {name: 'N', description: 'D', picture: 'P'}]) {
      expect(request({id: 'g5', op: 'group.update', conversation: CONV, ...change})).toEqual({id: 'g5', op: 'group.update', args: {conversation: CONV, ...change}})
    }
  })

  it('group.add and group.remove with one and with maxMembersPerChange members', () => {
    const many = Array.from({length: LIMITS.maxMembersPerChange}, () => USER)
    for (const op of ['group.add', 'group.remove'] as const) {
      expect(request({id: 'g6', op, conversation: CONV, members: [USER]})).toEqual({id: 'g6', op, args: {conversation: CONV, members: [USER]}})
      expect(request({id: 'g7', op, conversation: CONV, members: many}).args).toEqual({conversation: CONV, members: many})
    }
  })

  it('group ops on one member: promote, demote, ban, unban, approve, deny', () => {
    for (const op of ['group.promote', 'group.demote', 'group.ban', 'group.unban', 'group.approve', 'group.deny'] as const) {
      expect(request({id: 'g8', op, conversation: CONV, member: USER})).toEqual({id: 'g8', op, args: {conversation: CONV, member: USER}})
    }
  })

  it('group.invite.create fills in approval=false', () => {
    expect(request({id: 'g9', op: 'group.invite.create', conversation: CONV})).toEqual({
      id: 'g9',
      op: 'group.invite.create',
      args: {conversation: CONV, approval: false},
    })
    expect(request({id: 'g10', op: 'group.invite.create', conversation: CONV, approval: true}).args).toEqual({conversation: CONV, approval: true})
  })

  it('group.invite.revoke and group.join take a code of 8 to 64 URL-safe characters', () => {
    for (const code of ['abcdEF12', 'A-b_C-d_0123456789', 'x'.repeat(64)]) {
      expect(request({id: 'g11', op: 'group.join', code})).toEqual({id: 'g11', op: 'group.join', args: {code}})
      expect(request({id: 'g12', op: 'group.invite.revoke', conversation: CONV, code})).toEqual({
        id: 'g12',
        op: 'group.invite.revoke',
        args: {conversation: CONV, code},
      })
    }
  })

  // Minimal valid frames for the rich-messaging ops (c231e1e), so that the op list above stays complete.
  it('react fills in remove=false; edit, versions, delete, forward', () => {
    expect(request({id: 'm1', op: 'react', conversation: CONV, seq: 3, emoji: '👍'})).toEqual({
      id: 'm1',
      op: 'react',
      args: {conversation: CONV, seq: 3, emoji: '👍', remove: false},
    })
    expect(request({id: 'm2', op: 'edit', conversation: CONV, seq: 3, body: 'fixed'})).toEqual({id: 'm2', op: 'edit', args: {conversation: CONV, seq: 3, body: 'fixed'}})
    expect(request({id: 'm3', op: 'versions', conversation: CONV, seq: 3})).toEqual({id: 'm3', op: 'versions', args: {conversation: CONV, seq: 3}})
    for (const scope of ['everyone', 'me'] as const) {
      expect(request({id: 'm4', op: 'delete', conversation: CONV, seq: 3, scope})).toEqual({id: 'm4', op: 'delete', args: {conversation: CONV, seq: 3, scope}})
    }
    const forward = {conversation: CONV, clientMsgId: 'f-1', from: {conversation: CONV, seq: 4}}
    expect(request({id: 'm5', op: 'forward', ...forward})).toEqual({id: 'm5', op: 'forward', args: forward})
  })

  it('typing, presence.set, presence.get, user.block, user.unblock, user.blocks', () => {
    expect(request({id: 'p1', op: 'typing', conversation: CONV, state: true})).toEqual({id: 'p1', op: 'typing', args: {conversation: CONV, state: true}})
    expect(request({id: 'p2', op: 'presence.set', status: 'away', custom: 'lunch'})).toEqual({id: 'p2', op: 'presence.set', args: {status: 'away', custom: 'lunch'}})
    expect(request({id: 'p3', op: 'presence.get', users: [USER]})).toEqual({id: 'p3', op: 'presence.get', args: {users: [USER]}})
    for (const op of ['user.block', 'user.unblock'] as const) {
      expect(request({id: 'p4', op, user: USER})).toEqual({id: 'p4', op, args: {user: USER}})
    }
    expect(request({id: 'p5', op: 'user.blocks'})).toEqual({id: 'p5', op: 'user.blocks', args: {}})
  })

  it('keys.upload, keys.count, keys.devices, keys.bundle', () => {
    const key = {id: 1, publicKey: 'BQ==', signature: 'AAAA'}
    const upload = {identityKey: 'BQAA', registrationId: 7, signedPreKey: key, kyberPreKey: key, preKeys: [{id: 2, publicKey: 'BQAA'}]}
    expect(request({id: 'k1', op: 'keys.upload', ...upload})).toEqual({id: 'k1', op: 'keys.upload', args: upload})
    expect(request({id: 'k2', op: 'keys.upload', preKeys: []})).toEqual({id: 'k2', op: 'keys.upload', args: {preKeys: []}})
    expect(request({id: 'k3', op: 'keys.count'})).toEqual({id: 'k3', op: 'keys.count', args: {}})
    expect(request({id: 'k4', op: 'keys.devices', user: USER})).toEqual({id: 'k4', op: 'keys.devices', args: {user: USER}})
    expect(request({id: 'k5', op: 'keys.bundle', user: USER, devices: [USER2]})).toEqual({id: 'k5', op: 'keys.bundle', args: {user: USER, devices: [USER2]}})
    for (const bad of [
      {op: 'keys.upload', identityKey: 'BQAA'},
      {op: 'keys.upload', preKeys: [{id: -1, publicKey: 'BQAA'}]},
      {op: 'keys.upload', preKeys: [{id: 1, publicKey: 'not base64!'}]},
      {op: 'keys.bundle', user: USER, devices: []},
    ]) {
      expect(decodeRequest(JSON.stringify({id: 'k6', ...bad})), JSON.stringify(bad)).toMatchObject({ok: false, error: {code: 'invalid_request'}})
    }
  })

  it('device.list, device.rename, device.logout, push.register, push.unregister, notify.prefs, push.history', () => {
    expect(request({id: 'd1', op: 'device.list'})).toEqual({id: 'd1', op: 'device.list', args: {}})
    expect(request({id: 'd2', op: 'device.rename', name: 'Phone'})).toEqual({id: 'd2', op: 'device.rename', args: {name: 'Phone'}})
    expect(request({id: 'd3', op: 'device.logout', device: USER}).args).toEqual({device: USER})
    expect(request({id: 'd4', op: 'device.logout'}).args).toEqual({})
    const subscription = {endpoint: 'https://push.example/abc', keys: {p256dh: 'BPx_-1', auth: 'a-_Z'}}
    expect(request({id: 'd5', op: 'push.register', provider: 'webpush', subscription}).args).toEqual({provider: 'webpush', subscription})
    expect(request({id: 'd6', op: 'push.register', provider: 'apns', token: 'ab12'}).args).toEqual({provider: 'apns', token: 'ab12'})
    expect(request({id: 'd7', op: 'push.unregister'}).args).toEqual({})
    expect(request({id: 'd8', op: 'notify.prefs'}).args).toEqual({})
    expect(request({id: 'd9', op: 'notify.prefs', previews: false, quietHours: {start: '22:00', end: '07:30'}}).args).toEqual({
      previews: false,
      quietHours: {start: '22:00', end: '07:30', utcOffsetMin: 0},
    })
    expect(request({id: 'd10', op: 'notify.prefs', quietHours: null}).args).toEqual({quietHours: null})
    expect(request({id: 'd11', op: 'push.history'}).args).toEqual({limit: LIMITS.defaultPushHistory})
    for (const bad of [
      {op: 'device.rename', name: ''},
      {op: 'device.rename', name: 'n'.repeat(65)},
      {op: 'device.logout', device: 'mine'},
      {op: 'push.register', provider: 'sms', token: 'x'},
      {op: 'push.register', provider: 'fcm'},
      {op: 'push.register', provider: 'fcm', token: 'has space'},
      {op: 'push.register', provider: 'webpush', subscription: {endpoint: 'javascript:alert(1)', keys: {p256dh: 'a', auth: 'b'}}},
      {op: 'push.register', provider: 'webpush', subscription: {endpoint: 'https://p/x', keys: {p256dh: 'a'}}},
      {op: 'notify.prefs', quietHours: {start: '7:00', end: '08:00'}},
      {op: 'notify.prefs', previews: 'no'},
      {op: 'push.history', limit: LIMITS.maxPushHistory + 1},
    ]) {
      expect(decodeRequest(JSON.stringify({id: 'd12', ...bad})), JSON.stringify(bad)).toMatchObject({ok: false, error: {code: 'invalid_request'}})
    }
  })

  it('drops unknown extra arguments instead of passing them inside', () => {
    expect(request({id: 'r11', op: 'ping', extra: 1})).toEqual({id: 'r11', op: 'ping', args: {}})
    const decoded = request({id: 'r12', op: 'send', ...sendArgs, admin: true})
    expect(decoded.args).toEqual(sendArgs)
  })

  it('accepts an id of 1 and of 128 characters', () => {
    expect(request({id: 'a', op: 'ping'}).id).toBe('a')
    expect(request({id: 'i'.repeat(128), op: 'ping'}).id).toBe('i'.repeat(128))
  })

  it('accepts a frame of exactly maxBytes', () => {
    const base = JSON.stringify({id: 'r', op: 'ping', pad: ''})
    const frame = JSON.stringify({id: 'r', op: 'ping', pad: 'p'.repeat(200 - base.length)})
    expect(frame.length).toBe(200)
    expect(decodeRequest(frame, 200).ok).toBe(true)
    expect(decodeRequest(Buffer.from(frame), 200).ok).toBe(true)
  })
})

describe('decodeRequest: unusable frames', () => {
  it('invalid UTF-8 bytes -> invalid_json, no re', () => {
    const prefix = Buffer.from('{"id":"r1","op":"send","body":"')
    const suffix = Buffer.from('"}')
    for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      const decoded = decodeRequest(Buffer.concat([prefix, Buffer.from(bad), suffix]))
      expect(decoded).toMatchObject({ok: false, error: {code: 'invalid_json'}})
      expect(reOf(decoded)).toBeUndefined()
    }
  })

  it('not JSON -> invalid_json', () => {
    for (const text of ['', 'hello', '{', '{"id":"r1","op":"ping"', "{'id':'r1'}", '{"id":"r1",}', 'NaN']) {
      expect(errorOf(decodeRequest(text)).code, text).toBe('invalid_json')
      expect(errorOf(decodeRequest(Buffer.from(text))).code, text).toBe('invalid_json')
    }
  })

  it('JSON that is not an object -> invalid_request, no re', () => {
    for (const text of ['[]', '[{"id":"r1","op":"ping"}]', '42', 'null', 'true', '"ping"']) {
      const decoded = decodeRequest(text)
      expect(errorOf(decoded).code, text).toBe('invalid_request')
      expect(reOf(decoded), text).toBeUndefined()
    }
  })

  it('missing, empty, too long or non-string id -> invalid_request without re', () => {
    for (const frame of [{op: 'ping'}, {id: '', op: 'ping'}, {id: 'i'.repeat(129), op: 'ping'}, {id: 7, op: 'ping'}, {id: null, op: 'ping'}]) {
      const decoded = decodeRequest(JSON.stringify(frame))
      expect(errorOf(decoded).code).toBe('invalid_request')
      expect(reOf(decoded)).toBeUndefined()
    }
  })

  it('missing or non-string op -> invalid_request with re', () => {
    for (const frame of [{id: 'r1'}, {id: 'r1', op: 5}, {id: 'r1', op: null}, {id: 'r1', op: ['ping']}]) {
      const decoded = decodeRequest(JSON.stringify(frame))
      expect(errorOf(decoded).code).toBe('invalid_request')
      expect(reOf(decoded)).toBe('r1')
    }
  })

  it('unknown op -> unknown_op with re, also for names inherited from Object.prototype', () => {
    for (const op of ['nope', 'PING', 'group.explode', 'constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const decoded = decodeRequest(JSON.stringify({id: 'r2', op}))
      expect(errorOf(decoded).code, op).toBe('unknown_op')
      expect(reOf(decoded), op).toBe('r2')
    }
  })

  it('does not echo an unbounded op name back', () => {
    const decoded = decodeRequest(JSON.stringify({id: 'r3', op: 'x'.repeat(10_000)}))
    expect(errorOf(decoded).code).toBe('unknown_op')
    expect(errorOf(decoded).message.length).toBeLessThan(200)
  })

  it('frame over maxBytes -> too_large, measured in bytes not characters', () => {
    const frame = JSON.stringify({id: 'r1', op: 'ping', pad: 'p'.repeat(LIMITS.maxFrameBytes)})
    expect(errorOf(decodeRequest(frame)).code).toBe('too_large')
    expect(errorOf(decodeRequest(Buffer.from(frame))).code).toBe('too_large')
    // 100 characters, 300 bytes.
    const wide = JSON.stringify({id: 'r1', op: 'ping', pad: '€'.repeat(100)})
    expect(decodeRequest(wide, 200)).toMatchObject({ok: false, error: {code: 'too_large'}})
    expect(decodeRequest(wide, 400).ok).toBe(true)
    const exact = '{"id":"r1","op":"ping"}'
    expect(errorOf(decodeRequest(exact, exact.length - 1)).code).toBe('too_large')
  })
})

describe('decodeRequest: bad arguments -> invalid_request with re', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['conv.direct without with', {op: 'conv.direct'}],
    ['conv.direct with a non-uuid', {op: 'conv.direct', with: 'bob'}],
    ['send to a non-uuid conversation', {op: 'send', ...sendArgs, conversation: 'not-a-uuid'}],
    ['send to a numeric conversation', {op: 'send', ...sendArgs, conversation: 12}],
    ['send without clientMsgId', {op: 'send', ...sendArgs, clientMsgId: undefined}],
    ['send with an empty clientMsgId', {op: 'send', ...sendArgs, clientMsgId: ''}],
    ['send with a clientMsgId too long', {op: 'send', ...sendArgs, clientMsgId: 'x'.repeat(LIMITS.maxClientMsgId + 1)}],
    ['send with an upper-case kind', {op: 'send', ...sendArgs, kind: 'Text'}],
    ['send with an empty kind', {op: 'send', ...sendArgs, kind: ''}],
    ['send with a kind starting with a digit', {op: 'send', ...sendArgs, kind: '1text'}],
    ['send with a kind too long', {op: 'send', ...sendArgs, kind: 'k'.repeat(33)}],
    ['send without body', {op: 'send', ...sendArgs, body: undefined}],
    ['send with a null body', {op: 'send', ...sendArgs, body: null}],
    ['send with a numeric body', {op: 'send', ...sendArgs, body: 5}],
    ['send with an array body', {op: 'send', ...sendArgs, body: ['a']}],
    ['send with replyTo 0', {op: 'send', ...sendArgs, replyTo: 0}],
    ['send with a fractional replyTo', {op: 'send', ...sendArgs, replyTo: 1.5}],
    ['send with replyTo 1e308', {op: 'send', ...sendArgs, replyTo: 1e308}],
    ['sync without conversation', {op: 'sync'}],
    ['sync with a negative after', {op: 'sync', conversation: CONV, after: -1}],
    ['sync with after as a string', {op: 'sync', conversation: CONV, after: '5'}],
    ['sync with after 1e308', {op: 'sync', conversation: CONV, after: 1e308}],
    ['sync with after above MAX_SAFE_INTEGER', {op: 'sync', conversation: CONV, after: 2 ** 53}],
    ['sync with limit 0', {op: 'sync', conversation: CONV, limit: 0}],
    ['sync with limit over 500', {op: 'sync', conversation: CONV, limit: LIMITS.maxSyncLimit + 1}],
    ['sync with limit 1e308', {op: 'sync', conversation: CONV, limit: 1e308}],
    ['inbox with a numeric token', {op: 'inbox', after: 5}],
    ['search without query', {op: 'search'}],
    ['search with an empty query', {op: 'search', query: ''}],
    ['search with a whitespace query', {op: 'search', query: ' \t\n '}],
    ['search with a query over 200 characters', {op: 'search', query: 'q'.repeat(LIMITS.maxSearchQuery + 1)}],
    ['search with a NUL in the query', {op: 'search', query: 'a\u0000b'}],
    ['search in a non-uuid conversation', {op: 'search', query: 'x', conversation: 'c1'}],
    ['search with limit 0', {op: 'search', query: 'x', limit: 0}],
    ['search with limit over 50', {op: 'search', query: 'x', limit: LIMITS.maxSearchLimit + 1}],
    ['search with a cursor over 200 characters', {op: 'search', query: 'x', cursor: 'c'.repeat(201)}],
    ['inbox with a token too long', {op: 'inbox', after: 't'.repeat(65)}],
    ['receipt with an unknown type', {op: 'receipt', conversation: CONV, type: 'seen', seq: 1}],
    ['receipt with seq 0', {op: 'receipt', conversation: CONV, type: 'read', seq: 0}],
    ['receipt with a negative seq', {op: 'receipt', conversation: CONV, type: 'read', seq: -3}],
    ['receipt with seq 1e308', {op: 'receipt', conversation: CONV, type: 'read', seq: 1e308}],
    ['receipt with a deeply nested seq', {op: 'receipt', conversation: CONV, type: 'read', seq: nest(200, 1)}],
    ['conv.direct with a deeply nested with', {op: 'conv.direct', with: nest(200, USER)}],
    ['conv.settings with neither muted nor archived', {op: 'conv.settings', conversation: CONV}],
    ['conv.settings with muted as a string', {op: 'conv.settings', conversation: CONV, muted: 'yes'}],
    ['conv.settings without conversation', {op: 'conv.settings', muted: true}],
    ['group.create without name', {op: 'group.create', members: [USER]}],
    ['group.create with an empty name', {op: 'group.create', name: ''}],
    ['group.create with a name over 100 characters', {op: 'group.create', name: 'n'.repeat(101)}],
    ['group.create with a NUL in the name', {op: 'group.create', name: 'a\u0000b'}],
    ['group.create with a non-uuid member', {op: 'group.create', name: 'T', members: ['bob']}],
    ['group.create with a description over 500 characters', {op: 'group.create', name: 'T', description: 'd'.repeat(501)}],
    ['group.create with a picture over 512 characters', {op: 'group.create', name: 'T', picture: 'p'.repeat(513)}],
    ['group.update without any change', {op: 'group.update', conversation: CONV}],
    ['group.update with an empty name', {op: 'group.update', conversation: CONV, name: ''}],
    ['group.info without conversation', {op: 'group.info'}],
    ['group.add with empty members', {op: 'group.add', conversation: CONV, members: []}],
    ['group.add without members', {op: 'group.add', conversation: CONV}],
    ['group.add with more than maxMembersPerChange members', {op: 'group.add', conversation: CONV, members: Array.from({length: LIMITS.maxMembersPerChange + 1}, () => USER)}],
    ['group.remove with empty members', {op: 'group.remove', conversation: CONV, members: []}],
    ['group.promote without member', {op: 'group.promote', conversation: CONV}],
    ['group.ban with a non-uuid member', {op: 'group.ban', conversation: CONV, member: 'bob'}],
    ['group.invite.create with approval as a string', {op: 'group.invite.create', conversation: CONV, approval: 'true'}],
    ['group.join without code', {op: 'group.join'}],
    ['group.join with a code too short', {op: 'group.join', code: 'abc1234'}],
    ['group.join with a code too long', {op: 'group.join', code: 'x'.repeat(65)}],
    ['group.join with a code of bad characters', {op: 'group.join', code: 'abc/def+ghi='}],
    ['group.join with a code containing a space', {op: 'group.join', code: 'abcd efgh'}],
    ['group.invite.revoke with a code of bad format', {op: 'group.invite.revoke', conversation: CONV, code: '../../etc'}],
  ]

  it.each(cases)('%s', (_name, args) => {
    const decoded = decodeRequest(JSON.stringify({id: 'bad-1', ...args}))
    expect(decoded.ok).toBe(false)
    expect(errorOf(decoded).code).toBe('invalid_request')
    expect(errorOf(decoded).message.length).toBeGreaterThan(0)
    expect(reOf(decoded)).toBe('bad-1')
  })

  it('group.create: at most maxGroupMembers - 1 others, though a 64 KiB frame holds far fewer uuids', () => {
    const frame = (n: number) => JSON.stringify({id: 'big', op: 'group.create', name: 'T', members: Array.from({length: n}, () => USER)})
    // The schema bound, checked with a frame limit large enough to reach it.
    expect(decodeRequest(frame(LIMITS.maxGroupMembers - 1), LIMITS.hardMaxFrameBytes).ok).toBe(true)
    expect(decodeRequest(frame(LIMITS.maxGroupMembers), LIMITS.hardMaxFrameBytes)).toMatchObject({ok: false, re: 'big', error: {code: 'invalid_request'}})
    // At the real frame limit (64 KiB, ~39 bytes per member) a large member list is too_large first.
    expect(Buffer.byteLength(frame(1600))).toBeLessThan(LIMITS.maxFrameBytes)
    expect(decodeRequest(frame(1600)).ok).toBe(true)
    expect(decodeRequest(frame(LIMITS.maxGroupMembers - 1))).toMatchObject({ok: false, error: {code: 'too_large'}})
  })

  it('a number literal that overflows to Infinity is refused', () => {
    const decoded = decodeRequest(`{"id":"bad-2","op":"sync","conversation":"${CONV}","after":1e400}`)
    expect(errorOf(decoded).code).toBe('invalid_request')
    expect(reOf(decoded)).toBe('bad-2')
  })

  // Regression: a send body nested thousands of levels deep (~10 KB, under both maxFrameBytes and maxBodyBytes)
  // used to be accepted, after which ops.ts `send` hit a RangeError in JSON.stringify and the client got a
  // retryable `internal`. frames.ts now bounds nesting (LIMITS.maxBodyDepth), so it is refused at the edge.
  it('a send body nested deeper than the server can re-encode -> invalid_request', () => {
    const depth = 5000
    const frame = `{"id":"deep-1","op":"send","conversation":"${CONV}","clientMsgId":"c-1","kind":"text","body":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`
    expect(Buffer.byteLength(frame)).toBeLessThan(LIMITS.maxBodyBytes)
    const decoded = decodeRequest(frame)
    expect(decoded).toMatchObject({ok: false, re: 'deep-1', error: {code: 'invalid_request'}})
  })

  it('body nesting: maxBodyDepth levels of objects/arrays pass, one more is refused', () => {
    expect(LIMITS.maxBodyDepth).toBe(16)
    const withLevels = (levels: number, leaf: (inner: unknown) => unknown) => {
      // `levels` counts the body object itself.
      let value: unknown = 'leaf'
      for (let i = 1; i < levels; i++) value = leaf(value)
      return {top: value}
    }
    for (const wrap of [(v: unknown) => ({k: v}), (v: unknown) => [v]]) {
      const atLimit = withLevels(LIMITS.maxBodyDepth, wrap)
      expect(request({id: 'n1', op: 'send', ...sendArgs, body: atLimit}).args).toMatchObject({body: atLimit})
      const decoded = decodeRequest(JSON.stringify({id: 'n2', op: 'send', ...sendArgs, body: withLevels(LIMITS.maxBodyDepth + 1, wrap)}))
      expect(decoded).toMatchObject({ok: false, re: 'n2', error: {code: 'invalid_request'}})
    }
  })

  it('text Postgres cannot store (NUL, unpaired surrogates) is refused in body and clientMsgId', () => {
    const bad: Array<Record<string, unknown>> = [
      {body: 'a\u0000b'},
      {body: 'lone \ud800 high'},
      {body: 'lone \udc00 low'},
      {body: {text: 'nul \u0000'}},
      {body: {list: ['ok', 'bad \ud83d']}},
      {body: {'key\u0000': 'v'}},
      {body: {'\udfff': 'v'}},
      {clientMsgId: 'c\u0000'},
      {clientMsgId: '\ud800'},
    ]
    for (const override of bad) {
      const decoded = decodeRequest(JSON.stringify({id: 'txt', op: 'send', ...sendArgs, ...override}))
      expect(decoded, JSON.stringify(override)).toMatchObject({ok: false, re: 'txt', error: {code: 'invalid_request'}})
    }
    // Well-formed pairs and other control characters are fine.
    const good = {...sendArgs, clientMsgId: 'c-\u{1F600}', body: {'emoji \u{1F600}': 'tab\there \u0001 \u{10FFFF}'}}
    expect(request({id: 'txt-ok', op: 'send', ...good}).args).toEqual(good)
  })
})

describe('decodeRequest: hostile JSON never throws', () => {
  it('10,000 nested arrays', () => {
    const depth = 10_000
    const text = '['.repeat(depth) + ']'.repeat(depth)
    let decoded: Decoded | undefined
    expect(() => (decoded = decodeRequest(text))).not.toThrow()
    expect(decoded).toMatchObject({ok: false, error: {code: 'invalid_request'}})
  })

  it('10,000 nested objects and arrays inside a request', () => {
    const depth = 10_000
    const inner = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
    for (const text of [
      `{"id":"d1","op":"ping","pad":${inner}}`,
      `{"id":"d2","op":"sync","conversation":"${CONV}","after":${inner}}`,
      `{"id":"d3","op":${'['.repeat(depth)}${']'.repeat(depth)}}`,
    ]) {
      let decoded: Decoded | undefined
      expect(() => (decoded = decodeRequest(text))).not.toThrow()
      expect(decoded).toBeDefined()
    }
    expect(decodeRequest(`{"id":"d2","op":"sync","conversation":"${CONV}","after":${inner}}`)).toMatchObject({
      ok: false,
      re: 'd2',
      error: {code: 'invalid_request'},
    })
    expect(decodeRequest(`{"id":"d3","op":${'['.repeat(depth)}${']'.repeat(depth)}}`)).toMatchObject({
      ok: false,
      re: 'd3',
      error: {code: 'invalid_request'},
    })
  })

  it('nesting so deep it exceeds the frame limit is too_large, not a crash', () => {
    const depth = LIMITS.maxFrameBytes
    expect(decodeRequest('['.repeat(depth) + ']'.repeat(depth))).toMatchObject({ok: false, error: {code: 'too_large'}})
  })
})

describe('encoders', () => {
  it('encodeReply: {re, ok: true, ...result}', () => {
    expect(JSON.parse(encodeReply('r1', {}))).toEqual({re: 'r1', ok: true})
    const result = {seq: 4, messageId: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a70', ts: '2030-01-01T00:00:00.000Z'}
    expect(JSON.parse(encodeReply('r2', result))).toEqual({re: 'r2', ok: true, ...result})
    expect(JSON.parse(encodeReply('r3', {messages: [], hasMore: false}))).toEqual({re: 'r3', ok: true, messages: [], hasMore: false})
  })

  it('encodeErrorReply: {re, ok: false, error: {code, message}}', () => {
    const reply = JSON.parse(encodeErrorReply('r4', {code: 'forbidden', message: 'not a member'}))
    expect(reply).toEqual({re: 'r4', ok: false, error: {code: 'forbidden', message: 'not a member'}})
    const detailed = JSON.parse(encodeErrorReply('r5', {code: 'rate_limited', message: 'slow down', details: {retryAfterMs: 50}}))
    expect(detailed).toEqual({re: 'r5', ok: false, error: {code: 'rate_limited', message: 'slow down', details: {retryAfterMs: 50}}})
  })

  it('a decode failure round-trips into an error reply with the same code', () => {
    const decoded = decodeRequest('{"id":"r6","op":"nope"}')
    if (decoded.ok) throw new Error('expected a failure')
    expect(JSON.parse(encodeErrorReply(decoded.re!, decoded.error))).toEqual({re: 'r6', ok: false, error: {code: 'unknown_op', message: expect.any(String)}})
  })

  it('encodeEvent: message, receipt, reconnect and error events', () => {
    const message: ServerEvent = {
      ev: 'message',
      conversation: CONV,
      seq: 1,
      messageId: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a70',
      sender: USER,
      senderDevice: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a71',
      ts: '2030-01-01T00:00:00.000Z',
      kind: 'text',
      body: 'hi',
      clientMsgId: 'c-1',
    }
    const parsed = JSON.parse(encodeEvent(message))
    expect(parsed).toEqual(message)
    for (const field of ['ev', 'conversation', 'seq', 'messageId', 'sender', 'senderDevice', 'ts', 'kind', 'body']) {
      expect(parsed).toHaveProperty(field)
    }
    expect(parsed).not.toHaveProperty('re')

    const receipt: ServerEvent = {ev: 'receipt', conversation: CONV, user: USER, device: 'd', type: 'read', seq: 9}
    expect(JSON.parse(encodeEvent(receipt))).toMatchObject({ev: 'receipt', conversation: CONV, user: USER, type: 'read', seq: 9})

    expect(JSON.parse(encodeEvent({ev: 'reconnect', reason: 'drain'}))).toEqual({ev: 'reconnect', reason: 'drain'})
    expect(JSON.parse(encodeEvent({ev: 'reconnect', reason: 'drain', url: 'wss://b/v1/ws', after: 250}))).toEqual({
      ev: 'reconnect',
      reason: 'drain',
      url: 'wss://b/v1/ws',
      after: 250,
    })
    expect(JSON.parse(encodeEvent({ev: 'error', error: {code: 'invalid_json', message: 'x'}}))).toEqual({
      ev: 'error',
      error: {code: 'invalid_json', message: 'x'},
    })
  })

  it('frames are single-line text', () => {
    expect(encodeReply('r', {text: 'a\nb'})).not.toContain('\n')
    expect(encodeEvent({ev: 'reconnect', reason: 'line\nbreak'})).not.toContain('\n')
  })
})

function request(frame: object | Buffer): Request {
  const decoded = decodeRequest(Buffer.isBuffer(frame) ? frame : JSON.stringify(frame))
  if (!decoded.ok) throw new Error(`expected ok, got ${JSON.stringify(decoded)}`)
  return decoded.request
}

function errorOf(decoded: Decoded) {
  if (decoded.ok) throw new Error(`expected a failure, got ${JSON.stringify(decoded)}`)
  return decoded.error
}

function reOf(decoded: Decoded): string | undefined {
  if (decoded.ok) throw new Error(`expected a failure, got ${JSON.stringify(decoded)}`)
  return decoded.re
}

function nest(depth: number, leaf: unknown): unknown {
  let value = leaf
  for (let i = 0; i < depth; i++) value = {v: [value]}
  return value
}
