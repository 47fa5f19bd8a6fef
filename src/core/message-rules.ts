import {z} from 'zod'

import {MsgrError} from '../errors.js'
import type {ConversationState} from './group-rules.js'

// Reactions, edits, deletes for everyone, and blocking, as pure rules. Reactions, edits and deletes are
// entries of the conversation's own seq stream (offline devices get them through sync) that also change
// the state of an earlier message; blocking changes who may send in a direct conversation.

export const contentCommandSchema = z.discriminatedUnion('type', [
  z.object({type: z.literal('message.react'), target: z.number().int().min(1), emoji: z.string(), remove: z.boolean()}),
  z.object({type: z.literal('message.edit'), target: z.number().int().min(1), body: z.unknown()}),
  z.object({type: z.literal('message.delete'), target: z.number().int().min(1)}),
  z.object({type: z.literal('block'), user: z.string()}),
  z.object({type: z.literal('unblock'), user: z.string()}),
])
export type ContentCommand = z.infer<typeof contentCommandSchema>

/** Message kinds people write; only these can be reacted to, edited, deleted or forwarded. */
export const CONTENT_KINDS: ReadonlySet<string> = new Set(['text', 'image', 'video', 'audio', 'file', 'location', 'contact', 'sticker'])

/** What the rules need to know about an earlier message. */
export interface TargetInfo {
  sender: string
  kind: string
  deleted: boolean
  version: number
}

export type ContentEffect =
  | {t: 'reaction.add'; target: number; user: string; emoji: string}
  | {t: 'reaction.remove'; target: number; user: string; emoji: string}
  | {t: 'message.edit'; target: number; body: unknown; version: number}
  | {t: 'message.tombstone'; target: number}
  | {t: 'block.add'; blocker: string; blocked: string}
  | {t: 'block.remove'; blocker: string; blocked: string}

export interface ContentApplied {
  ok: true
  state?: ConversationState
  effects: ContentEffect[]
  /** The stream entry recording the change (kind + body); undefined for blocking. */
  entry?: {kind: 'reaction' | 'edit' | 'delete'; body: Record<string, unknown>}
  /** The target's state after the change (for later commands in the same batch). */
  target?: TargetInfo
}

export type ContentOutcome = ContentApplied | {ok: false; error: MsgrError}

export function applyContentCommand(
  state: ConversationState | undefined,
  actor: string,
  cmd: ContentCommand,
  target: TargetInfo | undefined,
): ContentOutcome {
  try {
    if (cmd.type === 'block' || cmd.type === 'unblock') return block(state, actor, cmd)
    if (!state || state.group?.deleted) throw new MsgrError('not_found', 'no such conversation')
    const role = state.members.get(actor)
    if (!role) throw new MsgrError('forbidden', 'not a member of this conversation')
    if (state.blocked?.has(actor) && cmd.type !== 'message.delete') throw new MsgrError('forbidden', 'you cannot message this user')
    if (!target || cmd.target > state.lastSeq) throw new MsgrError('not_found', 'no such message')
    if (target.deleted) throw new MsgrError('not_found', 'the message was deleted')
    if (!CONTENT_KINDS.has(target.kind)) throw new MsgrError('invalid_request', `a ${target.kind} entry cannot be reacted to, edited or deleted`)
    switch (cmd.type) {
      case 'message.react': {
        const t = cmd.remove ? 'reaction.remove' : 'reaction.add'
        return {
          ok: true,
          effects: [{t, target: cmd.target, user: actor, emoji: cmd.emoji}],
          entry: {kind: 'reaction', body: {target: cmd.target, emoji: cmd.emoji, op: cmd.remove ? 'remove' : 'add'}},
          target,
        }
      }
      case 'message.edit': {
        if (target.sender !== actor) throw new MsgrError('forbidden', 'only the sender may edit a message')
        const version = target.version + 1
        return {
          ok: true,
          effects: [{t: 'message.edit', target: cmd.target, body: cmd.body, version}],
          entry: {kind: 'edit', body: {target: cmd.target, body: cmd.body, version}},
          target: {...target, version},
        }
      }
      case 'message.delete': {
        const moderator = state.kind === 'group' && (role === 'owner' || role === 'admin')
        if (target.sender !== actor && !moderator) throw new MsgrError('forbidden', 'only the sender or a group admin may delete a message for everyone')
        return {
          ok: true,
          effects: [{t: 'message.tombstone', target: cmd.target}],
          entry: {kind: 'delete', body: {target: cmd.target}},
          target: {...target, deleted: true},
        }
      }
    }
  } catch (error) {
    if (error instanceof MsgrError) return {ok: false, error}
    throw error
  }
}

/** Blocking works with or without a conversation; with one, the worker's copy learns it at once. */
function block(state: ConversationState | undefined, actor: string, cmd: Extract<ContentCommand, {type: 'block' | 'unblock'}>): ContentApplied {
  if (cmd.user === actor) throw new MsgrError('invalid_request', 'you cannot block yourself')
  const blocked = new Set(state?.blocked ?? [])
  if (cmd.type === 'block') blocked.add(cmd.user)
  else blocked.delete(cmd.user)
  const effect: ContentEffect = cmd.type === 'block' ? {t: 'block.add', blocker: actor, blocked: cmd.user} : {t: 'block.remove', blocker: actor, blocked: cmd.user}
  return {ok: true, state: state ? {...state, blocked} : undefined, effects: [effect]}
}

export function isContentCommand(cmd: {type: string}): cmd is ContentCommand {
  return cmd.type.startsWith('message.') || cmd.type === 'block' || cmd.type === 'unblock'
}
