import {describe, expect, it} from 'vitest'

import type {ConversationState} from '../../../src/core/group-rules.js'
import {
  applyContentCommand,
  type ContentApplied,
  type ContentCommand,
  contentCommandSchema,
  type ContentOutcome,
  CONTENT_KINDS,
  isContentCommand,
  type TargetInfo,
} from '../../../src/core/message-rules.js'
import type {GroupRole} from '../../../src/protocol/frames.js'

// applyContentCommand is pure: conversation state + actor + command + what is known of the target in,
// effects + the stream entry that records the change out. Every branch, with the exact effects.

const ANA = 'u-ana'
const BEN = 'u-ben'
const OWNER = 'u-owner'
const ADMIN = 'u-admin'
const MEMBER = 'u-member'
const MEMBER2 = 'u-member2'
const OUTSIDER = 'u-outsider'

function direct(spec: {lastSeq?: number; blocked?: string[]} = {}): ConversationState {
  const state: ConversationState = {
    id: 'direct-1',
    kind: 'direct',
    lastSeq: spec.lastSeq ?? 10,
    members: new Map<string, GroupRole>([
      [ANA, 'member'],
      [BEN, 'member'],
    ]),
  }
  if (spec.blocked) state.blocked = new Set(spec.blocked)
  return state
}

function group(spec: {deleted?: boolean; lastSeq?: number} = {}): ConversationState {
  return {
    id: 'group-1',
    kind: 'group',
    lastSeq: spec.lastSeq ?? 10,
    members: new Map<string, GroupRole>([
      [OWNER, 'owner'],
      [ADMIN, 'admin'],
      [MEMBER, 'member'],
      [MEMBER2, 'member'],
    ]),
    group: {name: 'Team', description: null, picture: null, bans: new Set(), invites: new Map(), requests: new Set(), deleted: spec.deleted ?? false},
  }
}

function msg(sender: string, spec: Partial<TargetInfo> = {}): TargetInfo {
  return {sender, kind: 'text', deleted: false, version: 1, ...spec}
}

const react = (target: number, emoji = '👍', remove = false): ContentCommand => ({type: 'message.react', target, emoji, remove})
const edit = (target: number, body: unknown = 'fixed'): ContentCommand => ({type: 'message.edit', target, body})
const del = (target: number): ContentCommand => ({type: 'message.delete', target})

function ok(outcome: ContentOutcome): ContentApplied {
  if (!outcome.ok) throw new Error(`expected success, got ${outcome.error.code}: ${outcome.error.message}`)
  return outcome
}

function code(outcome: ContentOutcome): string {
  if (outcome.ok) throw new Error('expected a refusal')
  return outcome.error.code
}

describe('applyContentCommand: conversation and membership checks', () => {
  it('refuses every message command in a conversation that does not exist (not_found)', () => {
    for (const cmd of [react(1), edit(1), del(1)]) expect(code(applyContentCommand(undefined, ANA, cmd, msg(ANA)))).toBe('not_found')
  })

  it('refuses every message command in a deleted group (not_found), even from its owner', () => {
    for (const cmd of [react(1), edit(1), del(1)]) expect(code(applyContentCommand(group({deleted: true}), OWNER, cmd, msg(OWNER)))).toBe('not_found')
  })

  it('refuses a non-member (forbidden), before looking at the target', () => {
    for (const cmd of [react(1), edit(1), del(1)]) {
      expect(code(applyContentCommand(direct(), OUTSIDER, cmd, msg(OUTSIDER)))).toBe('forbidden')
      expect(code(applyContentCommand(group(), OUTSIDER, cmd, undefined))).toBe('forbidden')
    }
  })
})

describe('applyContentCommand: target checks', () => {
  it('refuses a target that is unknown (not_found)', () => {
    for (const cmd of [react(3), edit(3), del(3)]) expect(code(applyContentCommand(direct(), ANA, cmd, undefined))).toBe('not_found')
  })

  it('refuses a target past the conversation’s last seq even when target info is passed (not_found)', () => {
    for (const cmd of [react(11), edit(11), del(11)]) expect(code(applyContentCommand(direct({lastSeq: 10}), ANA, cmd, msg(ANA)))).toBe('not_found')
    // The last seq itself is fine.
    expect(ok(applyContentCommand(direct({lastSeq: 10}), ANA, react(10), msg(ANA))).entry?.kind).toBe('reaction')
  })

  it('refuses a deleted target (not_found), whoever asks, even the sender or a group admin', () => {
    for (const cmd of [react(2), edit(2), del(2)]) {
      expect(code(applyContentCommand(direct(), ANA, cmd, msg(ANA, {deleted: true})))).toBe('not_found')
      expect(code(applyContentCommand(group(), OWNER, cmd, msg(MEMBER, {deleted: true})))).toBe('not_found')
    }
  })

  it('checks deletion before the kind: a deleted non-content entry is not_found, not invalid_request', () => {
    expect(code(applyContentCommand(direct(), ANA, react(2), msg(ANA, {kind: 'system', deleted: true})))).toBe('not_found')
  })

  it('refuses entries that are not content (system, reaction, edit, delete, unknown kinds): invalid_request', () => {
    for (const kind of ['system', 'reaction', 'edit', 'delete', 'poll', 'typing']) {
      for (const cmd of [react(2), edit(2), del(2)]) {
        const outcome = applyContentCommand(direct(), ANA, cmd, msg(ANA, {kind}))
        expect(code(outcome)).toBe('invalid_request')
        if (!outcome.ok) expect(outcome.error.message).toContain(kind)
      }
    }
  })

  it('accepts every content kind as a target', () => {
    expect([...CONTENT_KINDS].sort()).toEqual(['audio', 'contact', 'file', 'image', 'location', 'sticker', 'text', 'video'])
    for (const kind of CONTENT_KINDS) {
      for (const cmd of [react(2), edit(2), del(2)]) expect(applyContentCommand(direct(), ANA, cmd, msg(ANA, {kind})).ok).toBe(true)
    }
  })
})

describe('applyContentCommand: reactions', () => {
  it('adds a reaction: one effect, a `reaction` entry with op add, the target unchanged', () => {
    const target = msg(BEN)
    const applied = ok(applyContentCommand(direct(), ANA, react(4, '❤️'), target))
    expect(applied).toEqual({
      ok: true,
      effects: [{t: 'reaction.add', target: 4, user: ANA, emoji: '❤️'}],
      entry: {kind: 'reaction', body: {target: 4, emoji: '❤️', op: 'add'}},
      target,
    })
    expect(applied.state).toBeUndefined()
  })

  it('removes a reaction: a `reaction` entry with op remove', () => {
    const applied = ok(applyContentCommand(direct(), ANA, react(4, '❤️', true), msg(BEN)))
    expect(applied.effects).toEqual([{t: 'reaction.remove', target: 4, user: ANA, emoji: '❤️'}])
    expect(applied.entry).toEqual({kind: 'reaction', body: {target: 4, emoji: '❤️', op: 'remove'}})
  })

  it('lets any member react to anyone’s message, including their own, in direct chats and groups', () => {
    expect(ok(applyContentCommand(direct(), ANA, react(1), msg(ANA))).effects[0]).toMatchObject({t: 'reaction.add', user: ANA})
    expect(ok(applyContentCommand(direct(), BEN, react(1), msg(ANA))).effects[0]).toMatchObject({t: 'reaction.add', user: BEN})
    expect(ok(applyContentCommand(group(), MEMBER2, react(1), msg(OWNER))).effects[0]).toMatchObject({t: 'reaction.add', user: MEMBER2})
  })
})

describe('applyContentCommand: edits', () => {
  it('lets the sender edit: version + 1 in the effect, the `edit` entry and the returned target', () => {
    const target = msg(ANA, {version: 3})
    const body = {text: 'new', mentions: [BEN]}
    const applied = ok(applyContentCommand(direct(), ANA, edit(5, body), target))
    expect(applied).toEqual({
      ok: true,
      effects: [{t: 'message.edit', target: 5, body, version: 4}],
      entry: {kind: 'edit', body: {target: 5, body, version: 4}},
      target: {sender: ANA, kind: 'text', deleted: false, version: 4},
    })
    expect(target.version).toBe(3) // the input is not mutated
  })

  it('chains versions when the returned target feeds the next edit (several edits in one batch)', () => {
    let target = msg(ANA)
    for (const expected of [2, 3, 4]) {
      const applied = ok(applyContentCommand(direct(), ANA, edit(5, `v${expected}`), target))
      expect(applied.entry?.body).toEqual({target: 5, body: `v${expected}`, version: expected})
      target = applied.target!
    }
  })

  it('refuses an edit by anyone but the sender (forbidden): the other member, a group owner or admin', () => {
    expect(code(applyContentCommand(direct(), BEN, edit(5), msg(ANA)))).toBe('forbidden')
    expect(code(applyContentCommand(group(), OWNER, edit(5), msg(MEMBER)))).toBe('forbidden')
    expect(code(applyContentCommand(group(), ADMIN, edit(5), msg(MEMBER)))).toBe('forbidden')
    expect(code(applyContentCommand(group(), MEMBER2, edit(5), msg(MEMBER)))).toBe('forbidden')
  })
})

describe('applyContentCommand: delete for everyone', () => {
  const tombstone = (target: number, sender: string): ContentApplied => ({
    ok: true,
    effects: [{t: 'message.tombstone', target}],
    entry: {kind: 'delete', body: {target}},
    target: {sender, kind: 'text', deleted: true, version: 1},
  })

  it('lets the sender delete in a direct chat: a tombstone effect, a `delete` entry, the target marked deleted', () => {
    const target = msg(ANA)
    expect(applyContentCommand(direct(), ANA, del(6), target)).toEqual(tombstone(6, ANA))
    expect(target.deleted).toBe(false) // the input is not mutated
  })

  it('refuses the other member of a direct chat (forbidden): there are no moderators there', () => {
    expect(code(applyContentCommand(direct(), BEN, del(6), msg(ANA)))).toBe('forbidden')
  })

  it('lets a group member delete their own message but not another member’s', () => {
    expect(applyContentCommand(group(), MEMBER, del(6), msg(MEMBER))).toEqual(tombstone(6, MEMBER))
    expect(code(applyContentCommand(group(), MEMBER2, del(6), msg(MEMBER)))).toBe('forbidden')
    expect(code(applyContentCommand(group(), MEMBER, del(6), msg(ADMIN)))).toBe('forbidden')
  })

  it('lets the group owner and admins delete anyone’s message (moderation)', () => {
    expect(applyContentCommand(group(), OWNER, del(6), msg(MEMBER))).toEqual(tombstone(6, MEMBER))
    expect(applyContentCommand(group(), ADMIN, del(6), msg(MEMBER))).toEqual(tombstone(6, MEMBER))
    expect(applyContentCommand(group(), ADMIN, del(6), msg(OWNER))).toEqual(tombstone(6, OWNER))
  })

  it('refuses a sender who is no longer a member (forbidden), like any outsider', () => {
    const state = group()
    const left: ConversationState = {...state, members: new Map([...state.members].filter(([u]) => u !== MEMBER))}
    expect(code(applyContentCommand(left, MEMBER, del(6), msg(MEMBER)))).toBe('forbidden')
  })

  it('makes a second delete of the same target in one batch not_found (the returned target is deleted)', () => {
    const first = ok(applyContentCommand(direct(), ANA, del(6), msg(ANA)))
    expect(code(applyContentCommand(direct(), ANA, del(6), first.target))).toBe('not_found')
    expect(code(applyContentCommand(direct(), ANA, edit(6), first.target))).toBe('not_found')
    expect(code(applyContentCommand(direct(), BEN, react(6), first.target))).toBe('not_found')
  })
})

describe('applyContentCommand: blocking', () => {
  it('blocks: a block.add effect, no stream entry, the direct conversation’s state learns it', () => {
    const state = direct()
    const applied = ok(applyContentCommand(state, ANA, {type: 'block', user: BEN}, undefined))
    expect(applied.effects).toEqual([{t: 'block.add', blocker: ANA, blocked: BEN}])
    expect(applied.entry).toBeUndefined()
    expect(applied.target).toBeUndefined()
    expect([...applied.state!.blocked!]).toEqual([BEN])
    expect(applied.state!.members).toBe(state.members)
    expect(state.blocked).toBeUndefined() // the input is not mutated
  })

  it('blocks without a conversation: the effect alone, no state', () => {
    const applied = ok(applyContentCommand(undefined, ANA, {type: 'block', user: BEN}, undefined))
    expect(applied).toEqual({ok: true, state: undefined, effects: [{t: 'block.add', blocker: ANA, blocked: BEN}]})
  })

  it('blocking twice keeps one entry; both members may block each other', () => {
    const once = ok(applyContentCommand(direct({blocked: [BEN]}), ANA, {type: 'block', user: BEN}, undefined))
    expect([...once.state!.blocked!]).toEqual([BEN])
    const both = ok(applyContentCommand(once.state, BEN, {type: 'block', user: ANA}, undefined))
    expect([...both.state!.blocked!].sort()).toEqual([ANA, BEN].sort())
  })

  it('unblocks: a block.remove effect and the user leaves the blocked set; the other direction stays', () => {
    const state = direct({blocked: [BEN, ANA]})
    const applied = ok(applyContentCommand(state, ANA, {type: 'unblock', user: BEN}, undefined))
    expect(applied.effects).toEqual([{t: 'block.remove', blocker: ANA, blocked: BEN}])
    expect(applied.entry).toBeUndefined()
    expect([...applied.state!.blocked!]).toEqual([ANA])
    expect([...state.blocked!].sort()).toEqual([ANA, BEN].sort()) // not mutated
  })

  it('unblocking someone not blocked still succeeds (idempotent), with and without a conversation', () => {
    expect(ok(applyContentCommand(direct(), ANA, {type: 'unblock', user: BEN}, undefined)).state!.blocked!.size).toBe(0)
    expect(ok(applyContentCommand(undefined, ANA, {type: 'unblock', user: BEN}, undefined)).effects).toEqual([{t: 'block.remove', blocker: ANA, blocked: BEN}])
  })

  it('refuses blocking or unblocking yourself (invalid_request)', () => {
    expect(code(applyContentCommand(direct(), ANA, {type: 'block', user: ANA}, undefined))).toBe('invalid_request')
    expect(code(applyContentCommand(undefined, ANA, {type: 'unblock', user: ANA}, undefined))).toBe('invalid_request')
  })

  it('does not require membership (blocking works before any conversation exists)', () => {
    expect(applyContentCommand(direct(), OUTSIDER, {type: 'block', user: ANA}, undefined).ok).toBe(true)
  })
})

describe('applyContentCommand: unexpected errors', () => {
  it('rethrows errors that are not MsgrErrors instead of turning them into refusals', () => {
    const state = direct()
    const broken: ConversationState = {
      ...state,
      members: new (class extends Map<string, GroupRole> {
        override get(): GroupRole | undefined {
          throw new TypeError('boom')
        }
      })(),
    }
    expect(() => applyContentCommand(broken, ANA, react(1), msg(ANA))).toThrow(TypeError)
  })
})

describe('contentCommandSchema and isContentCommand', () => {
  it('parses every content command and refuses bad targets', () => {
    for (const cmd of [react(1), react(2, 'x', true), edit(3, {a: 1}), del(4), {type: 'block', user: BEN}, {type: 'unblock', user: BEN}]) {
      expect(contentCommandSchema.parse(cmd)).toEqual(cmd)
    }
    expect(contentCommandSchema.safeParse({type: 'message.react', target: 0, emoji: 'x', remove: false}).success).toBe(false)
    expect(contentCommandSchema.safeParse({type: 'message.delete', target: 1.5}).success).toBe(false)
    expect(contentCommandSchema.safeParse({type: 'message.react', target: 1, emoji: 'x'}).success).toBe(false)
    expect(contentCommandSchema.safeParse({type: 'message.pin', target: 1}).success).toBe(false)
  })

  it('tells content commands from group commands', () => {
    for (const type of ['message.react', 'message.edit', 'message.delete', 'block', 'unblock']) expect(isContentCommand({type})).toBe(true)
    for (const type of ['create', 'add', 'remove', 'leave', 'promote', 'ban', 'join', 'blocks']) expect(isContentCommand({type})).toBe(false)
  })
})
