import {describe, expect, it} from 'vitest'

import {
  applyGroupCommand,
  type CommandApplied,
  type CommandOutcome,
  type ConversationState,
  type GroupCommand,
  groupCommandSchema,
  type GroupDetails,
} from '../../../src/core/group-rules.js'
import {type GroupRole, LIMITS} from '../../../src/protocol/frames.js'

// applyGroupCommand is pure: state + actor + command in, next state + effects + system message out.
// These tests pin every command against every kind of actor, and the exact effects each one produces.

const G = 'group-1'
const OWNER = 'u-owner'
const ADMIN = 'u-admin'
const ADMIN2 = 'u-admin2'
const MEMBER = 'u-member'
const MEMBER2 = 'u-member2'
const OUTSIDER = 'u-outsider'
const BANNED = 'u-banned'
const REQUESTER = 'u-requester'
const NEWBIE = 'u-newbie'
const NEWBIE2 = 'u-newbie2'
const OPEN = 'open-link-0001'
const GATED = 'gated-link-0001'

/** The default group: owner, two admins, two members (oldest first), one ban, two live links, one request. */
function group(spec: {members?: Array<[string, GroupRole]>; group?: Partial<GroupDetails>; lastSeq?: number} = {}): ConversationState {
  return {
    id: G,
    kind: 'group',
    lastSeq: spec.lastSeq ?? 10,
    members: new Map(
      spec.members ?? [
        [OWNER, 'owner'],
        [ADMIN, 'admin'],
        [MEMBER, 'member'],
        [ADMIN2, 'admin'],
        [MEMBER2, 'member'],
      ],
    ),
    group: {
      name: 'Climbing',
      description: 'weekend trips',
      picture: null,
      bans: new Set([BANNED]),
      invites: new Map([
        [OPEN, {approval: false}],
        [GATED, {approval: true}],
      ]),
      requests: new Set([REQUESTER]),
      deleted: false,
      ...spec.group,
    },
  }
}

/** A group of exactly `size` members: the owner and `size - 1` plain members. */
function groupOfSize(size: number, extra: Partial<GroupDetails> = {}): ConversationState {
  const members: Array<[string, GroupRole]> = [[OWNER, 'owner']]
  for (let i = 1; i < size; i++) members.push([`u-${i}`, 'member'])
  return group({members, group: extra})
}

function apply(state: ConversationState | undefined, actor: string, cmd: GroupCommand): CommandOutcome {
  return applyGroupCommand(state, actor, cmd, G)
}

function ok(outcome: CommandOutcome): CommandApplied {
  if (!outcome.ok) throw new Error(`expected ok, got ${outcome.error.code}: ${outcome.error.message}`)
  return outcome
}

function codeOf(outcome: CommandOutcome): string {
  return outcome.ok ? 'ok' : outcome.error.code
}

function roles(state: ConversationState): Array<[string, GroupRole]> {
  return [...state.members]
}

/** A plain, comparable copy of a state (Maps and Sets as arrays). */
function snapshot(state: ConversationState): unknown {
  return {
    ...state,
    members: [...state.members],
    group: state.group && {
      ...state.group,
      bans: [...state.group.bans],
      invites: [...state.group.invites],
      requests: [...state.group.requests],
    },
  }
}

/** A command that changed nothing: no effects, no system message, no recipients, state as it was. */
function expectUnchanged(outcome: CommandOutcome, before: ConversationState, result: CommandApplied['result'] = {}): void {
  const applied = ok(outcome)
  expect(applied.effects).toEqual([])
  expect(applied.system).toBeUndefined()
  expect(applied.recipients).toEqual([])
  expect(applied.result).toEqual(result)
  expect(applied.notices).toBeUndefined()
  expect(snapshot(applied.state)).toEqual(snapshot(before))
}

// ---------------------------------------------------------------------------------------------------

const ACTORS = {owner: OWNER, admin: ADMIN, member: MEMBER, 'non-member': OUTSIDER, banned: BANNED} as const
type Verdicts = [owner: string, admin: string, member: string, nonMember: string, banned: string]

// Targets are chosen so that permission is the only thing that decides.
const MATRIX: Array<[string, GroupCommand, Verdicts]> = [
  ['create', {type: 'create', name: 'Again', members: []}, ['conflict', 'conflict', 'conflict', 'conflict', 'conflict']],
  ['update', {type: 'update', name: 'Renamed'}, ['ok', 'ok', 'forbidden', 'forbidden', 'forbidden']],
  ['add', {type: 'add', members: [NEWBIE]}, ['ok', 'ok', 'forbidden', 'forbidden', 'forbidden']],
  ['remove', {type: 'remove', members: [MEMBER2]}, ['ok', 'ok', 'forbidden', 'forbidden', 'forbidden']],
  ['leave', {type: 'leave'}, ['ok', 'ok', 'ok', 'forbidden', 'forbidden']],
  ['delete', {type: 'delete'}, ['ok', 'forbidden', 'forbidden', 'forbidden', 'forbidden']],
  ['promote', {type: 'promote', member: MEMBER2}, ['ok', 'ok', 'forbidden', 'forbidden', 'forbidden']],
  ['demote', {type: 'demote', member: ADMIN2}, ['ok', 'forbidden', 'forbidden', 'forbidden', 'forbidden']],
  ['ban', {type: 'ban', member: MEMBER2}, ['ok', 'ok', 'forbidden', 'forbidden', 'forbidden']],
  ['unban', {type: 'unban', member: BANNED}, ['ok', 'ok', 'forbidden', 'forbidden', 'forbidden']],
  ['invite.create', {type: 'invite.create', code: 'fresh-link-0001', approval: false}, ['ok', 'ok', 'forbidden', 'forbidden', 'forbidden']],
  ['invite.revoke', {type: 'invite.revoke', code: OPEN}, ['ok', 'ok', 'forbidden', 'forbidden', 'forbidden']],
  ['join (open link)', {type: 'join', code: OPEN}, ['ok', 'ok', 'ok', 'ok', 'forbidden']],
  ['join (approval link)', {type: 'join', code: GATED}, ['ok', 'ok', 'ok', 'ok', 'forbidden']],
  ['approve', {type: 'approve', member: REQUESTER}, ['ok', 'ok', 'forbidden', 'forbidden', 'forbidden']],
  ['deny', {type: 'deny', member: REQUESTER}, ['ok', 'ok', 'forbidden', 'forbidden', 'forbidden']],
]

describe('applyGroupCommand: every command × every actor', () => {
  it('the matrix covers every command type of groupCommandSchema', () => {
    const types = groupCommandSchema.options.map((o) => o.shape.type.value)
    expect(new Set(MATRIX.map(([, cmd]) => cmd.type))).toEqual(new Set(types))
  })

  const cases = MATRIX.flatMap(([name, cmd, verdicts]) =>
    Object.entries(ACTORS).map(([role, actor], i) => [name, role, actor, cmd, verdicts[i]!] as const),
  )

  it.each(cases)('%s by %s', (_name, _role, actor, cmd, verdict) => {
    const state = group()
    const before = snapshot(state)
    const outcome = apply(state, actor, cmd)
    expect(codeOf(outcome)).toBe(verdict)
    if (!outcome.ok) expect(outcome.error.message.length).toBeGreaterThan(0)
    // Pure: the input state is never mutated, whatever the verdict.
    expect(snapshot(state)).toEqual(before)
  })

  it.each(cases)('%s by %s: recipients are the members before and after, exactly when there is a system message', (_name, _role, actor, cmd) => {
    const state = group()
    const outcome = apply(state, actor, cmd)
    if (!outcome.ok) return
    if (outcome.system === undefined) {
      expect(outcome.recipients).toEqual([])
    } else {
      const union = new Set([...state.members.keys(), ...outcome.state.members.keys()])
      expect(new Set(outcome.recipients)).toEqual(union)
      expect(outcome.recipients).toHaveLength(union.size) // no duplicates
      expect(typeof outcome.system['action']).toBe('string')
      expect(outcome.system['actor']).toBeDefined()
    }
  })

  it('every command but create on an unknown conversation -> not_found', () => {
    for (const [, cmd] of MATRIX) {
      if (cmd.type === 'create') continue
      expect(codeOf(apply(undefined, OWNER, cmd)), cmd.type).toBe('not_found')
    }
  })

  it('every command but create on a direct conversation -> invalid_request; create -> conflict', () => {
    const direct: ConversationState = {id: G, kind: 'direct', lastSeq: 3, members: new Map([[OWNER, 'member'], [MEMBER, 'member']])}
    for (const [, cmd] of MATRIX) {
      expect(codeOf(apply(direct, OWNER, cmd)), cmd.type).toBe(cmd.type === 'create' ? 'conflict' : 'invalid_request')
    }
  })

  it('every command but create on a deleted group -> not_found, for every actor; create -> conflict', () => {
    const deleted = ok(apply(group(), OWNER, {type: 'delete'})).state
    for (const [, cmd] of MATRIX) {
      for (const actor of Object.values(ACTORS)) {
        expect(codeOf(apply(deleted, actor, cmd)), `${cmd.type} by ${actor}`).toBe(cmd.type === 'create' ? 'conflict' : 'not_found')
      }
    }
  })
})

describe('create', () => {
  it('makes the creator the owner and everyone else a member, ordered by id (as a reload orders them)', () => {
    const applied = ok(apply(undefined, OWNER, {type: 'create', name: 'Trip', members: [MEMBER, ADMIN]}))
    expect(applied.state).toMatchObject({id: G, kind: 'group', lastSeq: 0})
    expect(roles(applied.state)).toEqual([
      [OWNER, 'owner'],
      [ADMIN, 'member'],
      [MEMBER, 'member'],
    ])
    expect(applied.state.group).toEqual({
      name: 'Trip',
      description: null,
      picture: null,
      bans: new Set(),
      invites: new Map(),
      requests: new Set(),
      deleted: false,
    })
    expect(applied.effects).toEqual([
      {t: 'conversation.create', name: 'Trip', description: null, picture: null, createdBy: OWNER},
      {t: 'member.upsert', user: OWNER, role: 'owner', addedBy: OWNER},
      {t: 'member.upsert', user: ADMIN, role: 'member', addedBy: OWNER},
      {t: 'member.upsert', user: MEMBER, role: 'member', addedBy: OWNER},
    ])
    expect(applied.system).toEqual({action: 'group.created', actor: OWNER, name: 'Trip', members: [OWNER, ADMIN, MEMBER]})
    expect(applied.recipients).toEqual([OWNER, ADMIN, MEMBER])
    expect(applied.result).toEqual({members: [OWNER, ADMIN, MEMBER]})
    expect(applied.notices).toBeUndefined()
  })

  it('keeps description and picture', () => {
    const applied = ok(apply(undefined, OWNER, {type: 'create', name: 'Trip', description: 'd', picture: 'https://p/x.png', members: []}))
    expect(applied.state.group).toMatchObject({description: 'd', picture: 'https://p/x.png'})
    expect(applied.effects[0]).toEqual({t: 'conversation.create', name: 'Trip', description: 'd', picture: 'https://p/x.png', createdBy: OWNER})
  })

  it('de-duplicates members and leaves the creator out of the others (never demoted, never twice)', () => {
    const applied = ok(apply(undefined, OWNER, {type: 'create', name: 'T', members: [MEMBER, OWNER, MEMBER, ADMIN, OWNER, ADMIN]}))
    expect(roles(applied.state)).toEqual([
      [OWNER, 'owner'],
      [ADMIN, 'member'],
      [MEMBER, 'member'],
    ])
    expect(applied.effects.filter((e) => e.t === 'member.upsert')).toHaveLength(3)
    expect(applied.result.members).toEqual([OWNER, ADMIN, MEMBER])
  })

  it('a group of one: just the creator', () => {
    const applied = ok(apply(undefined, MEMBER, {type: 'create', name: 'Notes', members: []}))
    expect(roles(applied.state)).toEqual([[MEMBER, 'owner']])
    expect(applied.recipients).toEqual([MEMBER])
  })

  it(`size limit: at most LIMITS.maxGroupMembers (${LIMITS.maxGroupMembers}) members, creator included, counted after de-duplication`, () => {
    const others = (n: number) => Array.from({length: n}, (_, i) => `u-${i}`)
    const full = ok(apply(undefined, OWNER, {type: 'create', name: 'Big', members: others(LIMITS.maxGroupMembers - 1)}))
    expect(full.state.members.size).toBe(LIMITS.maxGroupMembers)
    expect(codeOf(apply(undefined, OWNER, {type: 'create', name: 'Big', members: others(LIMITS.maxGroupMembers)}))).toBe('invalid_request')
    // Duplicates and the creator do not count twice.
    const padded = [...others(LIMITS.maxGroupMembers - 1), 'u-0', 'u-1', OWNER]
    expect(ok(apply(undefined, OWNER, {type: 'create', name: 'Big', members: padded})).state.members.size).toBe(LIMITS.maxGroupMembers)
  })

  it('an existing conversation -> conflict', () => {
    expect(codeOf(apply(group(), OUTSIDER, {type: 'create', name: 'x', members: []}))).toBe('conflict')
  })
})

describe('update', () => {
  it('changes only the fields given and records them in the system message', () => {
    const state = group()
    const applied = ok(apply(state, ADMIN, {type: 'update', name: 'Bouldering'}))
    expect(applied.state.group).toMatchObject({name: 'Bouldering', description: 'weekend trips', picture: null})
    expect(applied.effects).toEqual([{t: 'conversation.update', name: 'Bouldering'}])
    expect(applied.system).toEqual({action: 'group.updated', actor: ADMIN, name: 'Bouldering'})
    expect(applied.system).not.toHaveProperty('description')
    expect(applied.recipients).toEqual([...state.members.keys()])
    expect(applied.result).toEqual({})
    expect(roles(applied.state)).toEqual(roles(state))
  })

  it('description and picture; an empty description is a change', () => {
    const applied = ok(apply(group(), OWNER, {type: 'update', description: '', picture: 'https://p/y.png'}))
    expect(applied.state.group).toMatchObject({name: 'Climbing', description: '', picture: 'https://p/y.png'})
    expect(applied.effects).toEqual([{t: 'conversation.update', description: '', picture: 'https://p/y.png'}])
    expect(applied.system).toEqual({action: 'group.updated', actor: OWNER, description: '', picture: 'https://p/y.png'})
  })
})

describe('add', () => {
  it('adds new users as members at the end, skipping current members and duplicates', () => {
    const state = group()
    const applied = ok(apply(state, ADMIN, {type: 'add', members: [MEMBER, NEWBIE, NEWBIE, OWNER, NEWBIE2]}))
    expect(roles(applied.state)).toEqual([...roles(state), [NEWBIE, 'member'], [NEWBIE2, 'member']])
    expect(applied.effects).toEqual([
      {t: 'member.upsert', user: NEWBIE, role: 'member', addedBy: ADMIN},
      {t: 'member.upsert', user: NEWBIE2, role: 'member', addedBy: ADMIN},
    ])
    expect(applied.system).toEqual({action: 'members.added', actor: ADMIN, members: [NEWBIE, NEWBIE2]})
    expect(applied.result).toEqual({members: [NEWBIE, NEWBIE2]})
    // The added members see their own addition.
    expect(applied.recipients).toEqual([...state.members.keys(), NEWBIE, NEWBIE2])
  })

  it('only current members -> ok, nothing changes, result members []', () => {
    const state = group()
    expectUnchanged(apply(state, OWNER, {type: 'add', members: [MEMBER, ADMIN2, OWNER]}), state, {members: []})
  })

  it('a banned user -> conflict naming the banned users; nobody is added', () => {
    const outcome = apply(group(), OWNER, {type: 'add', members: [NEWBIE, BANNED]})
    expect(outcome).toMatchObject({ok: false, error: {code: 'conflict', details: {banned: [BANNED]}}})
  })

  it('clears a pending join request of an added user', () => {
    const applied = ok(apply(group(), OWNER, {type: 'add', members: [REQUESTER, NEWBIE]}))
    // Added members are ordered by id (u-newbie < u-requester).
    expect(applied.effects).toEqual([
      {t: 'member.upsert', user: NEWBIE, role: 'member', addedBy: OWNER},
      {t: 'member.upsert', user: REQUESTER, role: 'member', addedBy: OWNER},
      {t: 'request.remove', user: REQUESTER},
    ])
    expect(applied.state.group!.requests.has(REQUESTER)).toBe(false)
    expect(applied.state.members.get(REQUESTER)).toBe('member')
  })

  it('size limit: the group may reach LIMITS.maxGroupMembers but not pass it; current members do not count', () => {
    const state = groupOfSize(LIMITS.maxGroupMembers - 1)
    expect(ok(apply(state, OWNER, {type: 'add', members: [NEWBIE, 'u-1', 'u-2']})).state.members.size).toBe(LIMITS.maxGroupMembers)
    expect(codeOf(apply(state, OWNER, {type: 'add', members: [NEWBIE, NEWBIE2]}))).toBe('invalid_request')
    expectUnchanged(apply(groupOfSize(LIMITS.maxGroupMembers), OWNER, {type: 'add', members: ['u-1']}), groupOfSize(LIMITS.maxGroupMembers), {members: []})
  })
})

describe('remove', () => {
  it('an admin removes members; the removed members receive the system message', () => {
    const state = group()
    const applied = ok(apply(state, ADMIN, {type: 'remove', members: [MEMBER, MEMBER2]}))
    expect(roles(applied.state)).toEqual([
      [OWNER, 'owner'],
      [ADMIN, 'admin'],
      [ADMIN2, 'admin'],
    ])
    expect(applied.effects).toEqual([
      {t: 'member.delete', user: MEMBER, reason: 'removed'},
      {t: 'member.delete', user: MEMBER2, reason: 'removed'},
    ])
    expect(applied.system).toEqual({action: 'members.removed', actor: ADMIN, members: [MEMBER, MEMBER2]})
    expect(applied.result).toEqual({members: [MEMBER, MEMBER2]})
    expect(applied.recipients).toEqual([...state.members.keys()])
    expect(applied.recipients).toContain(MEMBER)
  })

  it('an admin cannot remove another admin; the owner can', () => {
    const state = group()
    expect(codeOf(apply(state, ADMIN, {type: 'remove', members: [ADMIN2]}))).toBe('forbidden')
    const applied = ok(apply(state, OWNER, {type: 'remove', members: [ADMIN2]}))
    expect(applied.state.members.has(ADMIN2)).toBe(false)
    expect(applied.effects).toEqual([{t: 'member.delete', user: ADMIN2, reason: 'removed'}])
  })

  it('nobody can remove the owner', () => {
    expect(codeOf(apply(group(), ADMIN, {type: 'remove', members: [OWNER]}))).toBe('forbidden')
    expect(codeOf(apply(group(), ADMIN2, {type: 'remove', members: [MEMBER, OWNER]}))).toBe('forbidden')
  })

  it('a forbidden target refuses the whole command: nobody is removed', () => {
    const outcome = apply(group(), ADMIN, {type: 'remove', members: [MEMBER, ADMIN2, MEMBER2]})
    expect(codeOf(outcome)).toBe('forbidden')
  })

  it('the actor is left out (leaving is group.leave); the owner naming itself is no change', () => {
    const applied = ok(apply(group(), ADMIN, {type: 'remove', members: [ADMIN, MEMBER]}))
    expect(applied.result.members).toEqual([MEMBER])
    expect(applied.state.members.has(ADMIN)).toBe(true)
    const state = group()
    expectUnchanged(apply(state, OWNER, {type: 'remove', members: [OWNER]}), state, {members: []})
  })

  it('non-members and duplicates are skipped; only non-members -> no change', () => {
    const applied = ok(apply(group(), OWNER, {type: 'remove', members: [MEMBER, OUTSIDER, MEMBER]}))
    expect(applied.result.members).toEqual([MEMBER])
    expect(applied.effects).toEqual([{t: 'member.delete', user: MEMBER, reason: 'removed'}])
    const state = group()
    expectUnchanged(apply(state, OWNER, {type: 'remove', members: [OUTSIDER, BANNED]}), state, {members: []})
  })
})

describe('leave', () => {
  it('a member leaves: it is deleted with reason left and sees its own departure', () => {
    const state = group()
    const applied = ok(apply(state, MEMBER, {type: 'leave'}))
    expect(applied.state.members.has(MEMBER)).toBe(false)
    expect(applied.effects).toEqual([{t: 'member.delete', user: MEMBER, reason: 'left'}])
    expect(applied.system).toEqual({action: 'member.left', actor: MEMBER})
    expect(applied.recipients).toEqual([...state.members.keys()])
    expect(applied.result).toEqual({})
  })

  it('an admin leaves: no change of owner', () => {
    const applied = ok(apply(group(), ADMIN, {type: 'leave'}))
    expect(applied.system).toEqual({action: 'member.left', actor: ADMIN})
    expect(applied.state.members.get(OWNER)).toBe('owner')
  })

  it('the owner leaves: ownership passes to the oldest admin (Map order is age), who keeps its place', () => {
    const state = group({
      members: [
        [OWNER, 'owner'],
        [MEMBER, 'member'],
        [ADMIN2, 'admin'],
        [ADMIN, 'admin'],
      ],
    })
    const applied = ok(apply(state, OWNER, {type: 'leave'}))
    expect(roles(applied.state)).toEqual([
      [MEMBER, 'member'],
      [ADMIN2, 'owner'],
      [ADMIN, 'admin'],
    ])
    expect(applied.effects).toEqual([
      {t: 'member.delete', user: OWNER, reason: 'left'},
      {t: 'member.upsert', user: ADMIN2, role: 'owner', addedBy: OWNER},
    ])
    expect(applied.system).toEqual({action: 'member.left', actor: OWNER, newOwner: ADMIN2})
    expect(applied.recipients).toEqual([OWNER, MEMBER, ADMIN2, ADMIN])
  })

  it('the owner leaves a group without admins: the oldest member becomes owner', () => {
    const state = group({
      members: [
        [MEMBER2, 'member'],
        [OWNER, 'owner'],
        [MEMBER, 'member'],
      ],
    })
    const applied = ok(apply(state, OWNER, {type: 'leave'}))
    expect(roles(applied.state)).toEqual([
      [MEMBER2, 'owner'],
      [MEMBER, 'member'],
    ])
    expect(applied.system).toEqual({action: 'member.left', actor: OWNER, newOwner: MEMBER2})
    expect(applied.effects[1]).toEqual({t: 'member.upsert', user: MEMBER2, role: 'owner', addedBy: OWNER})
  })

  it('the last member leaves: no heir, and the group ends (links stop working)', () => {
    const applied = ok(apply(group({members: [[OWNER, 'owner']]}), OWNER, {type: 'leave'}))
    expect(applied.state.members.size).toBe(0)
    expect(applied.effects).toEqual([{t: 'member.delete', user: OWNER, reason: 'left'}, {t: 'conversation.delete'}])
    expect(applied.system).toEqual({action: 'member.left', actor: OWNER, groupEnded: true})
    expect(applied.recipients).toEqual([OWNER])
    expect(applied.state.group!.deleted).toBe(true)
    expect(applied.state.group!.invites.size).toBe(0)
  })

  it('a group always has exactly one owner after a leave (while it has members)', () => {
    for (const actor of [OWNER, ADMIN, MEMBER, ADMIN2, MEMBER2]) {
      const owners = [...ok(apply(group(), actor, {type: 'leave'})).state.members.values()].filter((r) => r === 'owner')
      expect(owners, actor).toHaveLength(1)
    }
  })

  it('a former member can no longer act', () => {
    const left = ok(apply(group(), MEMBER, {type: 'leave'})).state
    expect(codeOf(apply(left, MEMBER, {type: 'leave'}))).toBe('forbidden')
    const exOwner = ok(apply(group(), OWNER, {type: 'leave'})).state
    expect(codeOf(apply(exOwner, OWNER, {type: 'delete'}))).toBe('forbidden')
    expect(codeOf(apply(exOwner, OWNER, {type: 'add', members: [NEWBIE]}))).toBe('forbidden')
  })
})

describe('delete', () => {
  it('the owner deletes: the conversation is marked deleted and every member removed with reason deleted', () => {
    const state = group()
    const applied = ok(apply(state, OWNER, {type: 'delete'}))
    expect(applied.effects).toEqual([
      {t: 'conversation.delete'},
      {t: 'member.delete', user: OWNER, reason: 'deleted'},
      {t: 'member.delete', user: ADMIN, reason: 'deleted'},
      {t: 'member.delete', user: MEMBER, reason: 'deleted'},
      {t: 'member.delete', user: ADMIN2, reason: 'deleted'},
      {t: 'member.delete', user: MEMBER2, reason: 'deleted'},
    ])
    expect(applied.system).toEqual({action: 'group.deleted', actor: OWNER})
    expect(applied.recipients).toEqual([...state.members.keys()])
    expect(applied.state.members.size).toBe(0)
    expect(applied.state.group).toMatchObject({deleted: true, invites: new Map(), requests: new Set()})
  })

  it('admins and members may not delete', () => {
    expect(apply(group(), ADMIN, {type: 'delete'})).toMatchObject({ok: false, error: {code: 'forbidden'}})
    expect(apply(group(), MEMBER, {type: 'delete'})).toMatchObject({ok: false, error: {code: 'forbidden'}})
  })

  it('after a delete, even joining with a formerly live link -> not_found', () => {
    const deleted = ok(apply(group(), OWNER, {type: 'delete'})).state
    expect(codeOf(apply(deleted, OUTSIDER, {type: 'join', code: OPEN}))).toBe('not_found')
    expect(codeOf(apply(deleted, OWNER, {type: 'delete'}))).toBe('not_found')
  })
})

describe('promote and demote', () => {
  it('owner or admin promotes a member to admin', () => {
    for (const actor of [OWNER, ADMIN]) {
      const applied = ok(apply(group(), actor, {type: 'promote', member: MEMBER}))
      expect(applied.state.members.get(MEMBER)).toBe('admin')
      expect(applied.effects).toEqual([{t: 'member.upsert', user: MEMBER, role: 'admin', addedBy: actor}])
      expect(applied.system).toEqual({action: 'member.promoted', actor, member: MEMBER})
      expect(applied.result).toEqual({})
      // The promoted member keeps its place (its age).
      expect([...applied.state.members.keys()]).toEqual([...group().members.keys()])
    }
  })

  it('promoting an admin or the owner changes nothing', () => {
    const state = group()
    expectUnchanged(apply(state, OWNER, {type: 'promote', member: ADMIN}), state)
    expectUnchanged(apply(state, ADMIN, {type: 'promote', member: OWNER}), state)
    expectUnchanged(apply(state, ADMIN, {type: 'promote', member: ADMIN}), state)
  })

  it('promoting a non-member or a banned user -> not_found', () => {
    expect(codeOf(apply(group(), OWNER, {type: 'promote', member: OUTSIDER}))).toBe('not_found')
    expect(codeOf(apply(group(), ADMIN, {type: 'promote', member: BANNED}))).toBe('not_found')
  })

  it('only the owner demotes, and only admins become members', () => {
    const applied = ok(apply(group(), OWNER, {type: 'demote', member: ADMIN}))
    expect(applied.state.members.get(ADMIN)).toBe('member')
    expect(applied.effects).toEqual([{t: 'member.upsert', user: ADMIN, role: 'member', addedBy: OWNER}])
    expect(applied.system).toEqual({action: 'member.demoted', actor: OWNER, member: ADMIN})
    expect(codeOf(apply(group(), ADMIN, {type: 'demote', member: ADMIN2}))).toBe('forbidden')
    expect(codeOf(apply(group(), ADMIN, {type: 'demote', member: MEMBER}))).toBe('forbidden')
    expect(codeOf(apply(group(), ADMIN, {type: 'demote', member: ADMIN}))).toBe('forbidden')
  })

  it('demoting a member changes nothing; the owner cannot be demoted; a non-member -> not_found', () => {
    const state = group()
    expectUnchanged(apply(state, OWNER, {type: 'demote', member: MEMBER}), state)
    expect(codeOf(apply(state, OWNER, {type: 'demote', member: OWNER}))).toBe('forbidden')
    expect(codeOf(apply(state, OWNER, {type: 'demote', member: OUTSIDER}))).toBe('not_found')
  })
})

describe('ban and unban', () => {
  it('banning a member removes it, with a system message it receives too', () => {
    const state = group()
    const applied = ok(apply(state, ADMIN, {type: 'ban', member: MEMBER}))
    expect(applied.effects).toEqual([
      {t: 'ban.add', user: MEMBER, by: ADMIN},
      {t: 'member.delete', user: MEMBER, reason: 'banned'},
    ])
    expect(applied.system).toEqual({action: 'member.banned', actor: ADMIN, member: MEMBER})
    expect(applied.recipients).toEqual([...state.members.keys()])
    expect(applied.state.members.has(MEMBER)).toBe(false)
    expect(applied.state.group!.bans).toEqual(new Set([BANNED, MEMBER]))
    expect(applied.result).toEqual({})
  })

  it('banning a non-member: recorded, but no system message and no recipients', () => {
    const state = group()
    const applied = ok(apply(state, OWNER, {type: 'ban', member: OUTSIDER}))
    expect(applied.effects).toEqual([{t: 'ban.add', user: OUTSIDER, by: OWNER}])
    expect(applied.system).toBeUndefined()
    expect(applied.recipients).toEqual([])
    expect(applied.state.group!.bans.has(OUTSIDER)).toBe(true)
    expect(roles(applied.state)).toEqual(roles(state))
  })

  it('banning a user with a pending request drops the request', () => {
    const applied = ok(apply(group(), ADMIN, {type: 'ban', member: REQUESTER}))
    expect(applied.effects).toEqual([
      {t: 'ban.add', user: REQUESTER, by: ADMIN},
      {t: 'request.remove', user: REQUESTER},
    ])
    expect(applied.state.group!.requests.has(REQUESTER)).toBe(false)
    expect(applied.system).toBeUndefined()
  })

  it('ban rank rules: the owner is untouchable, admins only by the owner, nobody bans itself', () => {
    expect(codeOf(apply(group(), ADMIN, {type: 'ban', member: OWNER}))).toBe('forbidden')
    expect(codeOf(apply(group(), ADMIN, {type: 'ban', member: ADMIN2}))).toBe('forbidden')
    expect(codeOf(apply(group(), ADMIN, {type: 'ban', member: ADMIN}))).toBe('invalid_request')
    expect(codeOf(apply(group(), OWNER, {type: 'ban', member: OWNER}))).toBe('invalid_request')
    const applied = ok(apply(group(), OWNER, {type: 'ban', member: ADMIN2}))
    expect(applied.state.members.has(ADMIN2)).toBe(false)
    expect(applied.system).toEqual({action: 'member.banned', actor: OWNER, member: ADMIN2})
  })

  it('a banned user can neither join nor be added until unbanned', () => {
    const banned = ok(apply(group(), OWNER, {type: 'ban', member: MEMBER})).state
    expect(codeOf(apply(banned, MEMBER, {type: 'join', code: OPEN}))).toBe('forbidden')
    expect(codeOf(apply(banned, MEMBER, {type: 'join', code: GATED}))).toBe('forbidden')
    expect(codeOf(apply(banned, OWNER, {type: 'add', members: [MEMBER]}))).toBe('conflict')
    const unbanned = ok(apply(banned, ADMIN, {type: 'unban', member: MEMBER}))
    expect(unbanned.effects).toEqual([{t: 'ban.remove', user: MEMBER}])
    expect(unbanned.system).toBeUndefined()
    expect(unbanned.recipients).toEqual([])
    expect(unbanned.state.group!.bans.has(MEMBER)).toBe(false)
    expect(ok(apply(unbanned.state, OWNER, {type: 'add', members: [MEMBER]})).result).toEqual({members: [MEMBER]})
  })

  it('unbanning a user that is not banned changes nothing', () => {
    const state = group()
    expectUnchanged(apply(state, OWNER, {type: 'unban', member: OUTSIDER}), state)
  })
})

describe('invite links', () => {
  it('invite.create records the code and returns it; no system message', () => {
    const state = group()
    const applied = ok(apply(state, ADMIN, {type: 'invite.create', code: 'fresh-link-0001', approval: true}))
    expect(applied.effects).toEqual([{t: 'invite.add', code: 'fresh-link-0001', approval: true, by: ADMIN}])
    expect(applied.result).toEqual({code: 'fresh-link-0001'})
    expect(applied.system).toBeUndefined()
    expect(applied.recipients).toEqual([])
    expect(applied.state.group!.invites.get('fresh-link-0001')).toEqual({approval: true})
    expect(roles(applied.state)).toEqual(roles(state))
  })

  it('invite.revoke removes a live code; an unknown or already revoked code -> not_found', () => {
    const applied = ok(apply(group(), OWNER, {type: 'invite.revoke', code: OPEN}))
    expect(applied.effects).toEqual([{t: 'invite.revoke', code: OPEN}])
    expect(applied.system).toBeUndefined()
    expect(applied.result).toEqual({})
    expect(applied.state.group!.invites.has(OPEN)).toBe(false)
    expect(codeOf(apply(applied.state, OWNER, {type: 'invite.revoke', code: OPEN}))).toBe('not_found')
    expect(codeOf(apply(group(), OWNER, {type: 'invite.revoke', code: 'never-issued-01'}))).toBe('not_found')
  })

  it('joining through an open link makes a member at once', () => {
    const state = group()
    const applied = ok(apply(state, OUTSIDER, {type: 'join', code: OPEN}))
    expect(roles(applied.state)).toEqual([...roles(state), [OUTSIDER, 'member']])
    expect(applied.effects).toEqual([{t: 'member.upsert', user: OUTSIDER, role: 'member', addedBy: OUTSIDER}])
    expect(applied.system).toEqual({action: 'member.joined', actor: OUTSIDER, via: 'link'})
    expect(applied.recipients).toEqual([...state.members.keys(), OUTSIDER])
    expect(applied.result).toEqual({members: [OUTSIDER]})
  })

  it('joining through an approval link files a request and notifies the owner and admins', () => {
    const state = group()
    const applied = ok(apply(state, OUTSIDER, {type: 'join', code: GATED}))
    expect(applied.effects).toEqual([{t: 'request.add', user: OUTSIDER, code: GATED}])
    expect(applied.system).toBeUndefined()
    expect(applied.recipients).toEqual([])
    expect(applied.result).toEqual({requested: true})
    expect(applied.notices).toEqual([{users: [OWNER, ADMIN, ADMIN2], event: {ev: 'group.request', conversation: G, user: OUTSIDER}}])
    expect(applied.state.group!.requests).toEqual(new Set([REQUESTER, OUTSIDER]))
    expect(roles(applied.state)).toEqual(roles(state))
  })

  it('asking again while a request is pending stores nothing new but notifies again', () => {
    const applied = ok(apply(group(), REQUESTER, {type: 'join', code: GATED}))
    expect(applied.effects).toEqual([])
    expect(applied.result).toEqual({requested: true})
    expect(applied.notices).toHaveLength(1)
  })

  it('a revoked or unknown code -> not_found, checked before the ban', () => {
    const revoked = ok(apply(group(), OWNER, {type: 'invite.revoke', code: OPEN})).state
    expect(codeOf(apply(revoked, OUTSIDER, {type: 'join', code: OPEN}))).toBe('not_found')
    expect(codeOf(apply(group(), OUTSIDER, {type: 'join', code: 'never-issued-01'}))).toBe('not_found')
    expect(codeOf(apply(group(), BANNED, {type: 'join', code: 'never-issued-01'}))).toBe('not_found')
  })

  it('a banned joiner -> forbidden, with either kind of link', () => {
    expect(apply(group(), BANNED, {type: 'join', code: OPEN})).toMatchObject({ok: false, error: {code: 'forbidden'}})
    expect(apply(group(), BANNED, {type: 'join', code: GATED})).toMatchObject({ok: false, error: {code: 'forbidden'}})
  })

  it('a member joining again changes nothing, with either kind of link', () => {
    const state = group()
    for (const actor of [OWNER, ADMIN, MEMBER]) {
      expectUnchanged(apply(state, actor, {type: 'join', code: OPEN}), state)
      expectUnchanged(apply(state, actor, {type: 'join', code: GATED}), state)
    }
  })

  it('size limit applies to open links; an approval link still files the request', () => {
    const full = groupOfSize(LIMITS.maxGroupMembers, {invites: new Map([[OPEN, {approval: false}], [GATED, {approval: true}]]), requests: new Set()})
    expect(codeOf(apply(full, OUTSIDER, {type: 'join', code: OPEN}))).toBe('invalid_request')
    const requested = ok(apply(full, OUTSIDER, {type: 'join', code: GATED}))
    expect(requested.result).toEqual({requested: true})
    expect(codeOf(apply(requested.state, OWNER, {type: 'approve', member: OUTSIDER}))).toBe('invalid_request')
    const roomy = groupOfSize(LIMITS.maxGroupMembers - 1, {invites: new Map([[OPEN, {approval: false}]])})
    expect(ok(apply(roomy, OUTSIDER, {type: 'join', code: OPEN})).state.members.size).toBe(LIMITS.maxGroupMembers)
  })
})

describe('approve and deny', () => {
  it('approve turns the request into membership, with a member.joined system message', () => {
    const state = group()
    const applied = ok(apply(state, ADMIN, {type: 'approve', member: REQUESTER}))
    expect(applied.effects).toEqual([
      {t: 'request.remove', user: REQUESTER},
      {t: 'member.upsert', user: REQUESTER, role: 'member', addedBy: ADMIN},
    ])
    expect(applied.system).toEqual({action: 'member.joined', actor: REQUESTER, approvedBy: ADMIN})
    expect(applied.recipients).toEqual([...state.members.keys(), REQUESTER])
    expect(applied.result).toEqual({members: [REQUESTER]})
    expect(applied.state.group!.requests.has(REQUESTER)).toBe(false)
    expect(roles(applied.state).at(-1)).toEqual([REQUESTER, 'member'])
  })

  it('approve or deny without a pending request -> not_found', () => {
    for (const type of ['approve', 'deny'] as const) {
      expect(codeOf(apply(group(), OWNER, {type, member: OUTSIDER})), type).toBe('not_found')
      expect(codeOf(apply(group(), OWNER, {type, member: MEMBER})), type).toBe('not_found')
    }
    const approved = ok(apply(group(), OWNER, {type: 'approve', member: REQUESTER})).state
    expect(codeOf(apply(approved, OWNER, {type: 'approve', member: REQUESTER}))).toBe('not_found')
  })

  it('approving a request of a banned user -> conflict', () => {
    const state = group({group: {bans: new Set([REQUESTER]), requests: new Set([REQUESTER])}})
    expect(codeOf(apply(state, OWNER, {type: 'approve', member: REQUESTER}))).toBe('conflict')
  })

  it('deny drops the request quietly', () => {
    const state = group()
    const applied = ok(apply(state, ADMIN2, {type: 'deny', member: REQUESTER}))
    expect(applied.effects).toEqual([{t: 'request.remove', user: REQUESTER}])
    expect(applied.system).toBeUndefined()
    expect(applied.recipients).toEqual([])
    expect(applied.result).toEqual({})
    expect(applied.state.group!.requests.size).toBe(0)
    expect(roles(applied.state)).toEqual(roles(state))
    expect(codeOf(apply(applied.state, OWNER, {type: 'deny', member: REQUESTER}))).toBe('not_found')
  })

  // Regression (fixed in c231e1e): an open-link join used to leave the joiner's pending request behind.
  it('joining through an open link settles the joiner’s pending request', () => {
    const state = group()
    const applied = ok(apply(state, REQUESTER, {type: 'join', code: OPEN}))
    expect(applied.effects).toEqual([
      {t: 'member.upsert', user: REQUESTER, role: 'member', addedBy: REQUESTER},
      {t: 'request.remove', user: REQUESTER},
    ])
    expect(applied.state.group!.requests.has(REQUESTER)).toBe(false)
    expect(applied.system).toEqual({action: 'member.joined', actor: REQUESTER, via: 'link'})
    expect(applied.recipients).toEqual([...state.members.keys(), REQUESTER])
  })

  // Regression (fixed in c231e1e): approving a stale request of a current member used to "re-join" it: a
  // second member.joined system message and a member.upsert with role 'member' that demoted a promoted one.
  it('approving a stale request of a current member only drops the request: no demotion, no second join', () => {
    const stale = group({
      members: [
        [OWNER, 'owner'],
        [ADMIN, 'admin'],
        [REQUESTER, 'admin'],
      ],
    })
    const applied = ok(apply(stale, ADMIN, {type: 'approve', member: REQUESTER}))
    expect(applied.effects).toEqual([{t: 'request.remove', user: REQUESTER}])
    expect(applied.system).toBeUndefined()
    expect(applied.recipients).toEqual([])
    expect(applied.result).toEqual({})
    expect(applied.state.members.get(REQUESTER)).toBe('admin')
    expect(applied.state.group!.requests.has(REQUESTER)).toBe(false)
    expect(roles(applied.state)).toEqual(roles(stale))
  })
})
