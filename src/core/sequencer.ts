import {MsgrError} from '../errors.js'
import type {IngestEnvelope, SendOutcome} from './envelope.js'
import {sendKey} from './envelope.js'
import type {MessageRow} from './store/conversations.js'

// Pure planning of one worker batch: which envelopes become new messages with which seq, which are
// idempotent repeats of stored ones, and which are refused. No I/O: the batch writer feeds it state.

export interface ConversationState {
  id: string
  kind: 'direct' | 'group'
  lastSeq: number
  members: ReadonlySet<string>
}

export interface PlannedMessage {
  row: MessageRow
  /** Members at the time of the message: the recipients of its fanout. */
  recipients: readonly string[]
  /** False for a repeat of a stored message (re-fanned out, at-least-once). */
  fresh: boolean
}

export interface BatchPlan {
  /** One outcome per envelope, same order as the input. */
  outcomes: SendOutcome[]
  inserts: MessageRow[]
  /** Conversations whose last_seq moves: compare-and-set from `from` to `to`. */
  advances: Array<{conversation: string; from: number; to: number; ts: Date}>
  messages: PlannedMessage[]
}

export interface PlanInput {
  envelopes: readonly IngestEnvelope[]
  states: ReadonlyMap<string, ConversationState | undefined>
  /** Already-stored messages keyed by sendKey(conversation, sender, clientMsgId). */
  existing: ReadonlyMap<string, MessageRow>
  now: Date
  newId: () => string
}

export function planBatch(input: PlanInput): BatchPlan {
  const outcomes: SendOutcome[] = []
  const inserts: MessageRow[] = []
  const messages: PlannedMessage[] = []
  const nextSeq = new Map<string, number>()
  const seen = new Map<string, MessageRow>()

  for (const env of input.envelopes) {
    const key = sendKey(env.conv, env.sender, env.clientMsgId)
    const state = input.states.get(env.conv)
    if (!state) {
      outcomes.push({key, ok: false, error: new MsgrError('not_found', 'no such conversation').toWire()})
      continue
    }
    const prior = input.existing.get(key) ?? seen.get(key)
    if (prior) {
      outcomes.push(success(key, prior, true))
      if (!seen.has(key)) {
        seen.set(key, prior)
        messages.push({row: prior, recipients: [...state.members], fresh: false})
      }
      continue
    }
    if (!state.members.has(env.sender)) {
      outcomes.push({key, ok: false, error: new MsgrError('forbidden', 'not a member of this conversation').toWire()})
      continue
    }
    const seq = (nextSeq.get(env.conv) ?? state.lastSeq) + 1
    if (env.replyTo !== undefined && env.replyTo >= seq) {
      outcomes.push({key, ok: false, error: new MsgrError('invalid_request', 'replyTo must be an earlier seq').toWire()})
      continue
    }
    nextSeq.set(env.conv, seq)
    const row: MessageRow = {
      conversation_id: env.conv,
      seq,
      id: input.newId(),
      sender_id: env.sender,
      sender_device: env.senderDevice,
      client_msg_id: env.clientMsgId,
      kind: env.kind,
      body: env.body,
      reply_to: env.replyTo ?? null,
      created_at: input.now,
    }
    seen.set(key, row)
    inserts.push(row)
    messages.push({row, recipients: [...state.members], fresh: true})
    outcomes.push(success(key, row, false))
  }

  const advances = [...nextSeq].map(([conversation, to]) => ({
    conversation,
    from: input.states.get(conversation)!.lastSeq,
    to,
    ts: input.now,
  }))
  return {outcomes, inserts, advances, messages}
}

function success(key: string, row: MessageRow, duplicate: boolean): SendOutcome {
  return {key, ok: true, seq: row.seq, messageId: row.id, ts: row.created_at.toISOString(), duplicate}
}
