import {MsgrError} from '../errors.js'
import {SERVER_KINDS} from '../protocol/frames.js'
import type {IngestEnvelope, Notice, SendOutcome} from './envelope.js'
import {sendKey} from './envelope.js'
import {applyGroupCommand, type ConversationState, type GroupEffect} from './group-rules.js'
import {applyContentCommand, type ContentEffect, isContentCommand, type TargetInfo} from './message-rules.js'
import type {MessageRow} from './store/conversations.js'

export type {ConversationState} from './group-rules.js'

// Pure planning of one worker batch: which envelopes become new messages with which seq, which are
// idempotent repeats of stored ones, which group commands change what, and which are refused. No I/O:
// the batch writer feeds it state. Envelopes of one conversation are applied strictly in order, so a
// send right after a removal is judged against the membership the removal left.

export interface PlannedMessage {
  row: MessageRow
  /** Members at the time of the message: the recipients of its fanout. */
  recipients: readonly string[]
  /** False for a repeat of a stored message (re-fanned out, at-least-once). */
  fresh: boolean
}

export interface PlannedEffect {
  conversation: string
  /** Seq of the system message the effect belongs to (null when it changed nothing in the stream). */
  seq: number | null
  effect: GroupEffect | ContentEffect
}

export interface BatchPlan {
  /** One outcome per envelope, same order as the input. */
  outcomes: SendOutcome[]
  inserts: MessageRow[]
  /** Conversations whose last_seq moves: compare-and-set from `from` to `to`. */
  advances: Array<{conversation: string; from: number; to: number; ts: Date}>
  messages: PlannedMessage[]
  effects: PlannedEffect[]
  notices: Notice[]
  /** State of every conversation the batch changed, valid once the batch is committed. */
  states: Map<string, ConversationState>
}

export interface PlanInput {
  envelopes: readonly IngestEnvelope[]
  states: ReadonlyMap<string, ConversationState | undefined>
  /** Already-stored messages keyed by sendKey(conversation, sender, clientMsgId). */
  existing: ReadonlyMap<string, MessageRow>
  /** Earlier messages that reactions, edits and deletes in the batch refer to, keyed by targetKey(). */
  targets?: ReadonlyMap<string, TargetInfo>
  now: Date
  newId: () => string
}

export function planBatch(input: PlanInput): BatchPlan {
  const outcomes: SendOutcome[] = []
  const inserts: MessageRow[] = []
  const messages: PlannedMessage[] = []
  const effects: PlannedEffect[] = []
  const notices: Notice[] = []
  const working = new Map<string, ConversationState>()
  const startSeq = new Map<string, number>()
  const seen = new Map<string, MessageRow>()
  const current = (conv: string) => working.get(conv) ?? input.states.get(conv)
  const targets = new Map(input.targets ?? [])

  const append = (env: IngestEnvelope, state: ConversationState, kind: string, body: unknown, recipients: readonly string[]): MessageRow => {
    if (!startSeq.has(env.conv)) startSeq.set(env.conv, state.lastSeq)
    const row: MessageRow = {
      conversation_id: env.conv,
      seq: state.lastSeq + 1,
      id: input.newId(),
      sender_id: env.sender,
      sender_device: env.senderDevice,
      client_msg_id: env.clientMsgId,
      kind,
      body,
      reply_to: env.replyTo ?? null,
      created_at: input.now,
      meta: env.meta ?? null,
    }
    if (kind !== 'system') targets.set(targetKey(env.conv, row.seq), {sender: env.sender, kind, deleted: false, version: 1})
    working.set(env.conv, {...state, lastSeq: row.seq})
    seen.set(sendKey(env.conv, env.sender, env.clientMsgId), row)
    inserts.push(row)
    messages.push({row, recipients, fresh: true})
    return row
  }

  for (const env of input.envelopes) {
    const key = sendKey(env.conv, env.sender, env.clientMsgId)
    const prior = input.existing.get(key) ?? seen.get(key)
    const state = current(env.conv)
    if (prior) {
      outcomes.push(success(key, prior, true))
      if (!seen.has(key)) {
        seen.set(key, prior)
        messages.push({row: prior, recipients: state ? [...state.members.keys()] : [], fresh: false})
      }
      continue
    }
    if (env.cmd && isContentCommand(env.cmd)) {
      const cmd = env.cmd
      const target = 'target' in cmd ? targets.get(targetKey(env.conv, cmd.target)) : undefined
      const applied = applyContentCommand(state, env.sender, cmd, target)
      if (!applied.ok) {
        outcomes.push(refusal(key, applied.error))
        continue
      }
      if (applied.state) working.set(env.conv, applied.state)
      if ('target' in cmd && applied.target) targets.set(targetKey(env.conv, cmd.target), applied.target)
      const row = applied.entry && state ? append(env, current(env.conv)!, applied.entry.kind, applied.entry.body, [...state.members.keys()]) : undefined
      for (const effect of applied.effects) effects.push({conversation: env.conv, seq: row?.seq ?? null, effect})
      outcomes.push(
        row
          ? {key, ok: true, seq: row.seq, messageId: row.id, ts: row.created_at.toISOString(), duplicate: false}
          : {key, ok: true, seq: null, messageId: null, ts: null, duplicate: false},
      )
      continue
    }
    if (env.cmd) {
      const applied = applyGroupCommand(state, env.sender, env.cmd, env.conv)
      if (!applied.ok) {
        outcomes.push(refusal(key, applied.error))
        continue
      }
      let next = applied.state
      let row: MessageRow | undefined
      if (applied.system) {
        row = append(env, {...next, lastSeq: state?.lastSeq ?? 0}, 'system', applied.system, applied.recipients)
        next = {...next, lastSeq: row.seq}
      }
      working.set(env.conv, next)
      for (const effect of applied.effects) effects.push({conversation: env.conv, seq: row?.seq ?? null, effect})
      notices.push(...(applied.notices ?? []))
      outcomes.push(
        row
          ? {key, ok: true, seq: row.seq, messageId: row.id, ts: row.created_at.toISOString(), duplicate: false, result: applied.result}
          : {key, ok: true, seq: null, messageId: null, ts: null, duplicate: false, result: applied.result},
      )
      continue
    }
    if (SERVER_KINDS.has(env.kind)) {
      // The edge refuses these too; an envelope from anywhere else must not forge a system entry either.
      outcomes.push(refusal(key, new MsgrError('invalid_request', `kind ${env.kind} is written by the server only`)))
      continue
    }
    if (!state || state.group?.deleted) {
      outcomes.push(refusal(key, new MsgrError('not_found', 'no such conversation')))
      continue
    }
    if (!state.members.has(env.sender)) {
      outcomes.push(refusal(key, new MsgrError('forbidden', 'not a member of this conversation')))
      continue
    }
    if (state.blocked?.size) {
      const other = [...state.members.keys()].find((u) => u !== env.sender)
      const blocked = state.blocked.has(env.sender)
      if (blocked || (other !== undefined && state.blocked.has(other))) {
        const why = blocked ? 'you cannot message this user' : 'you blocked this user: unblock them to send'
        outcomes.push(refusal(key, new MsgrError('forbidden', why)))
        continue
      }
    }
    if (env.replyTo !== undefined && env.replyTo > state.lastSeq) {
      outcomes.push(refusal(key, new MsgrError('invalid_request', 'replyTo must be an earlier seq')))
      continue
    }
    const row = append(env, state, env.kind, env.body, [...state.members.keys()])
    outcomes.push(success(key, row, false))
  }

  const advances = [...startSeq].map(([conversation, from]) => ({conversation, from, to: working.get(conversation)!.lastSeq, ts: input.now}))
  return {outcomes, inserts, advances, messages, effects, notices, states: working}
}

export function targetKey(conversation: string, seq: number): string {
  return `${conversation}|${seq}`
}

function success(key: string, row: MessageRow, duplicate: boolean): SendOutcome {
  return {key, ok: true, seq: row.seq, messageId: row.id, ts: row.created_at.toISOString(), duplicate}
}

function refusal(key: string, error: MsgrError): SendOutcome {
  return {key, ok: false, error: error.toWire()}
}
