import {z} from 'zod'

import {MsgrError} from '../errors.js'
import {LIMITS, type GroupRole} from '../protocol/frames.js'

// Group administration as pure rules: state + actor + command in, next state + effects out. The worker
// applies them in the conversation's seq order, so every device sees membership change exactly where it
// happened in the chat.

export const groupCommandSchema = z.discriminatedUnion('type', [
  z.object({type: z.literal('create'), name: z.string(), description: z.string().optional(), picture: z.string().optional(), members: z.array(z.string())}),
  z.object({type: z.literal('update'), name: z.string().optional(), description: z.string().optional(), picture: z.string().optional()}),
  z.object({type: z.literal('add'), members: z.array(z.string())}),
  z.object({type: z.literal('remove'), members: z.array(z.string())}),
  z.object({type: z.literal('leave')}),
  z.object({type: z.literal('delete')}),
  z.object({type: z.literal('promote'), member: z.string()}),
  z.object({type: z.literal('demote'), member: z.string()}),
  z.object({type: z.literal('ban'), member: z.string()}),
  z.object({type: z.literal('unban'), member: z.string()}),
  z.object({type: z.literal('invite.create'), code: z.string(), approval: z.boolean()}),
  z.object({type: z.literal('invite.revoke'), code: z.string()}),
  z.object({type: z.literal('join'), code: z.string()}),
  z.object({type: z.literal('approve'), member: z.string()}),
  z.object({type: z.literal('deny'), member: z.string()}),
])
export type GroupCommand = z.infer<typeof groupCommandSchema>

export interface GroupDetails {
  name: string
  description: string | null
  picture: string | null
  bans: ReadonlySet<string>
  /** Live (unrevoked) invite codes. */
  invites: ReadonlyMap<string, {approval: boolean}>
  requests: ReadonlySet<string>
  deleted: boolean
}

export interface ConversationState {
  id: string
  kind: 'direct' | 'group'
  lastSeq: number
  /** Current members and their roles, oldest first (direct: both 'member'). */
  members: ReadonlyMap<string, GroupRole>
  group?: GroupDetails
  /** Direct conversations: members the other one has blocked (they may not send). */
  blocked?: ReadonlySet<string>
}

/** Database changes of one command, applied in order inside the batch transaction. */
export type GroupEffect =
  | {t: 'conversation.create'; name: string; description: string | null; picture: string | null; createdBy: string}
  | {t: 'conversation.update'; name?: string; description?: string; picture?: string}
  | {t: 'conversation.delete'}
  | {t: 'member.upsert'; user: string; role: GroupRole; addedBy: string}
  | {t: 'member.delete'; user: string; reason: 'removed' | 'left' | 'banned' | 'deleted'}
  | {t: 'ban.add'; user: string; by: string}
  | {t: 'ban.remove'; user: string}
  | {t: 'invite.add'; code: string; approval: boolean; by: string}
  | {t: 'invite.revoke'; code: string}
  | {t: 'request.add'; user: string; code: string}
  | {t: 'request.remove'; user: string}

export interface CommandApplied {
  ok: true
  state: ConversationState
  effects: GroupEffect[]
  /** Body of the system message recording the change; undefined when nothing in the stream changed. */
  system?: Record<string, unknown>
  /** Who receives the system message: members before and after (a removed member sees its removal). */
  recipients: string[]
  result: {members?: string[]; code?: string; requested?: boolean}
  /** Ephemeral notices (not in the seq stream), e.g. a join request for the admins. */
  notices?: Array<{users: string[]; event: {ev: 'group.request'; conversation: string; user: string}}>
}

export type CommandOutcome = CommandApplied | {ok: false; error: MsgrError}

export function applyGroupCommand(state: ConversationState | undefined, actor: string, cmd: GroupCommand, convId: string): CommandOutcome {
  try {
    if (cmd.type === 'create') return create(state, actor, cmd, convId)
    if (!state) throw new MsgrError('not_found', 'no such conversation')
    if (state.kind !== 'group' || !state.group) throw new MsgrError('invalid_request', 'not a group conversation')
    if (state.group.deleted) throw new MsgrError('not_found', 'the group was deleted')
    return apply(state as GroupState, actor, cmd)
  } catch (error) {
    if (error instanceof MsgrError) return {ok: false, error}
    throw error
  }
}

type GroupState = ConversationState & {group: GroupDetails}

function create(state: ConversationState | undefined, actor: string, cmd: Extract<GroupCommand, {type: 'create'}>, id: string): CommandApplied {
  if (state) throw new MsgrError('conflict', 'the conversation already exists')
  // Sorted: members who join together are ordered by id, exactly as a reload from the database orders them.
  const others = [...new Set(cmd.members)].filter((m) => m !== actor).sort()
  if (others.length + 1 > LIMITS.maxGroupMembers) throw new MsgrError('invalid_request', `a group has at most ${LIMITS.maxGroupMembers} members`)
  const members = new Map<string, GroupRole>([[actor, 'owner'], ...others.map((m) => [m, 'member'] as [string, GroupRole])])
  const details = {name: cmd.name, description: cmd.description ?? null, picture: cmd.picture ?? null}
  return {
    ok: true,
    state: {id, kind: 'group', lastSeq: 0, members, group: {...details, bans: new Set(), invites: new Map(), requests: new Set(), deleted: false}},
    effects: [
      {t: 'conversation.create', ...details, createdBy: actor},
      ...[...members].map(([user, role]): GroupEffect => ({t: 'member.upsert', user, role, addedBy: actor})),
    ],
    system: {action: 'group.created', actor, name: cmd.name, members: [...members.keys()]},
    recipients: [...members.keys()],
    result: {members: [...members.keys()]},
  }
}

function apply(state: GroupState, actor: string, cmd: Exclude<GroupCommand, {type: 'create'}>): CommandApplied {
  const role = state.members.get(actor)
  if (cmd.type === 'join') return join(state, actor, cmd.code)
  if (!role) throw new MsgrError('forbidden', 'not a member of this group')
  const admin = role === 'owner' || role === 'admin'
  const requireAdmin = () => {
    if (!admin) throw new MsgrError('forbidden', 'only admins and the owner may do this')
  }
  const members = new Map(state.members)
  const group = state.group
  const before = [...state.members.keys()]
  const next = (changes: Partial<GroupDetails> = {}): GroupState => ({...state, members, group: {...group, ...changes}})
  // May `actor` act on `target` (remove, ban)? The owner is untouchable; admins only by the owner.
  const outranks = (target: string) => {
    const targetRole = members.get(target)
    if (targetRole === 'owner') throw new MsgrError('forbidden', 'the owner cannot be removed or banned')
    if (targetRole === 'admin' && role !== 'owner') throw new MsgrError('forbidden', 'only the owner may remove or ban an admin')
  }

  switch (cmd.type) {
    case 'update': {
      requireAdmin()
      const changes = Object.fromEntries(Object.entries({name: cmd.name, description: cmd.description, picture: cmd.picture}).filter(([, v]) => v !== undefined))
      return changed(next(changes), [{t: 'conversation.update', ...changes}], {action: 'group.updated', actor, ...changes}, before)
    }
    case 'add': {
      requireAdmin()
      const banned = cmd.members.filter((m) => group.bans.has(m))
      if (banned.length > 0) throw new MsgrError('conflict', 'banned users cannot be added; unban them first', {banned})
      const added = [...new Set(cmd.members)].filter((m) => !members.has(m)).sort()
      if (members.size + added.length > LIMITS.maxGroupMembers) throw new MsgrError('invalid_request', `a group has at most ${LIMITS.maxGroupMembers} members`)
      if (added.length === 0) return unchanged(state, {members: []})
      const requests = new Set(group.requests)
      const effects: GroupEffect[] = []
      for (const user of added) {
        members.set(user, 'member')
        effects.push({t: 'member.upsert', user, role: 'member', addedBy: actor})
        if (requests.delete(user)) effects.push({t: 'request.remove', user})
      }
      return changed(next({requests}), effects, {action: 'members.added', actor, members: added}, before, {members: added})
    }
    case 'remove': {
      requireAdmin()
      const removed = [...new Set(cmd.members)].filter((m) => members.has(m) && m !== actor)
      for (const user of removed) outranks(user)
      if (removed.length === 0) return unchanged(state, {members: []})
      for (const user of removed) members.delete(user)
      return changed(next(), removed.map((user) => ({t: 'member.delete', user, reason: 'removed'})), {action: 'members.removed', actor, members: removed}, before, {members: removed})
    }
    case 'leave': {
      members.delete(actor)
      const effects: GroupEffect[] = [{t: 'member.delete', user: actor, reason: 'left'}]
      const system: Record<string, unknown> = {action: 'member.left', actor}
      if (members.size === 0) {
        // The last one out ends the group: nobody could manage it, so its links must stop working.
        effects.push({t: 'conversation.delete'})
        return changed(next({deleted: true, invites: new Map(), requests: new Set()}), effects, {...system, groupEnded: true}, before)
      }
      if (role === 'owner' && members.size > 0) {
        // Ownership passes to the longest-serving admin, else the longest-serving member.
        const heir = [...members].find(([, r]) => r === 'admin')?.[0] ?? members.keys().next().value!
        members.set(heir, 'owner')
        effects.push({t: 'member.upsert', user: heir, role: 'owner', addedBy: actor})
        system.newOwner = heir
      }
      return changed(next(), effects, system, before)
    }
    case 'delete': {
      if (role !== 'owner') throw new MsgrError('forbidden', 'only the owner may delete the group')
      members.clear()
      return changed(
        next({deleted: true, invites: new Map(), requests: new Set()}),
        [{t: 'conversation.delete'}, ...before.map((user): GroupEffect => ({t: 'member.delete', user, reason: 'deleted'}))],
        {action: 'group.deleted', actor},
        before,
      )
    }
    case 'promote': {
      requireAdmin()
      const current = members.get(cmd.member)
      if (!current) throw new MsgrError('not_found', 'not a member of this group')
      if (current !== 'member') return unchanged(state, {})
      members.set(cmd.member, 'admin')
      return changed(next(), [{t: 'member.upsert', user: cmd.member, role: 'admin', addedBy: actor}], {action: 'member.promoted', actor, member: cmd.member}, before)
    }
    case 'demote': {
      if (role !== 'owner') throw new MsgrError('forbidden', 'only the owner may demote admins')
      const current = members.get(cmd.member)
      if (!current) throw new MsgrError('not_found', 'not a member of this group')
      if (current === 'owner') throw new MsgrError('forbidden', 'the owner cannot be demoted')
      if (current === 'member') return unchanged(state, {})
      members.set(cmd.member, 'member')
      return changed(next(), [{t: 'member.upsert', user: cmd.member, role: 'member', addedBy: actor}], {action: 'member.demoted', actor, member: cmd.member}, before)
    }
    case 'ban': {
      requireAdmin()
      if (cmd.member === actor) throw new MsgrError('invalid_request', 'you cannot ban yourself')
      if (members.has(cmd.member)) outranks(cmd.member)
      const bans = new Set(group.bans).add(cmd.member)
      const requests = new Set(group.requests)
      const effects: GroupEffect[] = [{t: 'ban.add', user: cmd.member, by: actor}]
      if (requests.delete(cmd.member)) effects.push({t: 'request.remove', user: cmd.member})
      if (!members.delete(cmd.member)) return {ok: true, state: next({bans, requests}), effects, recipients: [], result: {}}
      effects.push({t: 'member.delete', user: cmd.member, reason: 'banned'})
      return changed(next({bans, requests}), effects, {action: 'member.banned', actor, member: cmd.member}, before)
    }
    case 'unban': {
      requireAdmin()
      if (!group.bans.has(cmd.member)) return unchanged(state, {})
      const bans = new Set(group.bans)
      bans.delete(cmd.member)
      return {ok: true, state: next({bans}), effects: [{t: 'ban.remove', user: cmd.member}], recipients: [], result: {}}
    }
    case 'invite.create': {
      requireAdmin()
      const invites = new Map(group.invites).set(cmd.code, {approval: cmd.approval})
      return {ok: true, state: next({invites}), effects: [{t: 'invite.add', code: cmd.code, approval: cmd.approval, by: actor}], recipients: [], result: {code: cmd.code}}
    }
    case 'invite.revoke': {
      requireAdmin()
      if (!group.invites.has(cmd.code)) throw new MsgrError('not_found', 'no such invite link in this group')
      const invites = new Map(group.invites)
      invites.delete(cmd.code)
      return {ok: true, state: next({invites}), effects: [{t: 'invite.revoke', code: cmd.code}], recipients: [], result: {}}
    }
    case 'approve': {
      requireAdmin()
      if (!group.requests.has(cmd.member)) throw new MsgrError('not_found', 'no pending request from this user')
      if (members.has(cmd.member)) {
        // Already in (added meanwhile): the stale request just goes.
        const requests = new Set(group.requests)
        requests.delete(cmd.member)
        return {ok: true, state: next({requests}), effects: [{t: 'request.remove', user: cmd.member}], recipients: [], result: {}}
      }
      if (group.bans.has(cmd.member)) throw new MsgrError('conflict', 'the user is banned; unban first')
      if (members.size + 1 > LIMITS.maxGroupMembers) throw new MsgrError('invalid_request', `a group has at most ${LIMITS.maxGroupMembers} members`)
      const requests = new Set(group.requests)
      requests.delete(cmd.member)
      members.set(cmd.member, 'member')
      return changed(
        next({requests}),
        [
          {t: 'request.remove', user: cmd.member},
          {t: 'member.upsert', user: cmd.member, role: 'member', addedBy: actor},
        ],
        {action: 'member.joined', actor: cmd.member, approvedBy: actor},
        before,
        {members: [cmd.member]},
      )
    }
    case 'deny': {
      requireAdmin()
      if (!group.requests.has(cmd.member)) throw new MsgrError('not_found', 'no pending request from this user')
      const requests = new Set(group.requests)
      requests.delete(cmd.member)
      return {ok: true, state: next({requests}), effects: [{t: 'request.remove', user: cmd.member}], recipients: [], result: {}}
    }
    default: {
      const unreachable: never = cmd
      throw new MsgrError('invalid_request', `unknown group command ${(unreachable as {type: string}).type}`)
    }
  }
}

function join(state: GroupState, actor: string, code: string): CommandApplied {
  const invite = state.group.invites.get(code)
  if (!invite) throw new MsgrError('not_found', 'the invite link is invalid or was revoked')
  if (state.group.bans.has(actor)) throw new MsgrError('forbidden', 'you are banned from this group')
  if (state.members.has(actor)) return unchanged(state, {})
  const before = [...state.members.keys()]
  if (invite.approval) {
    const requests = new Set(state.group.requests).add(actor)
    const admins = [...state.members].filter(([, r]) => r !== 'member').map(([u]) => u)
    return {
      ok: true,
      state: {...state, group: {...state.group, requests}},
      effects: state.group.requests.has(actor) ? [] : [{t: 'request.add', user: actor, code}],
      recipients: [],
      result: {requested: true},
      notices: [{users: admins, event: {ev: 'group.request', conversation: state.id, user: actor}}],
    }
  }
  if (state.members.size + 1 > LIMITS.maxGroupMembers) throw new MsgrError('invalid_request', `a group has at most ${LIMITS.maxGroupMembers} members`)
  const members = new Map(state.members).set(actor, 'member')
  const effects: GroupEffect[] = [{t: 'member.upsert', user: actor, role: 'member', addedBy: actor}]
  let group = state.group
  if (group.requests.has(actor)) {
    // An earlier request through an approval link is settled by joining through an open one.
    const requests = new Set(group.requests)
    requests.delete(actor)
    group = {...group, requests}
    effects.push({t: 'request.remove', user: actor})
  }
  return changed({...state, members, group}, effects, {action: 'member.joined', actor, via: 'link'}, before, {members: [actor]})
}

function changed(
  state: ConversationState,
  effects: GroupEffect[],
  system: Record<string, unknown>,
  before: string[],
  result: CommandApplied['result'] = {},
): CommandApplied {
  const recipients = [...new Set([...before, ...state.members.keys()])]
  return {ok: true, state, effects, system, recipients, result}
}

function unchanged(state: ConversationState, result: CommandApplied['result']): CommandApplied {
  return {ok: true, state, effects: [], recipients: [], result}
}
