import type {IngestEnvelope} from '../envelope.js'
import type {Sql} from '../ports.js'
import {type BatchPlan, type ConversationState, planBatch} from '../sequencer.js'
import type {MessageRow} from './conversations.js'
import {AlreadyStored, commitBatch, FencingConflict, findExisting, loadConversationStates, loadTargets} from './message-writer.js'

// One worker batch end to end against the database: plan, commit, and re-plan on the two expected
// conflicts (a key already stored; a conversation advanced by another owner). Other errors propagate.

export interface ConversationCache {
  get(id: string): ConversationState | undefined
  has(id: string): boolean
  set(id: string, state: ConversationState): void
  delete(id: string): void
}

export interface StoreBatchOptions {
  states: ConversationCache & ReadonlyMap<string, ConversationState>
  now: () => Date
  newId: () => string
  maxRetries?: number
  onFencingConflict?: (conversations: string[]) => void
  /** Checked between attempts: a crashed worker stops before it writes again. */
  aborted?: () => boolean
  /** Envelopes handed out before (a worker died holding them): look them up before judging them. */
  redelivered?: ReadonlySet<IngestEnvelope>
}

export async function storeBatch(sql: Sql, envelopes: readonly IngestEnvelope[], options: StoreBatchOptions): Promise<BatchPlan | undefined> {
  const {states} = options
  // Optimistic idempotency fits sends; a command, or anything redelivered, may already have been applied,
  // and judging it again against the state it produced would answer wrongly (a replayed create would
  // say "conflict"), so those are looked up first.
  const doubtful = envelopes.filter((e) => e.cmd !== undefined || options.redelivered?.has(e))
  const existing = await findExisting(sql, doubtful)
  const maxRetries = options.maxRetries ?? 3
  for (let attempt = 0; ; attempt++) {
    if (options.aborted?.()) return undefined
    const missing = [...new Set(envelopes.map((e) => e.conv))].filter((c) => !states.has(c))
    for (const [id, state] of await loadConversationStates(sql, missing)) states.set(id, state)
    const wanted = envelopes.flatMap((e) => (e.cmd && 'target' in e.cmd ? [{conv: e.conv, seq: e.cmd.target}] : []))
    const targets = await loadTargets(sql, wanted)
    const plan = planBatch({envelopes, states, existing, targets, now: options.now(), newId: options.newId})
    try {
      await commitBatch(sql, plan)
    } catch (error) {
      if (attempt >= maxRetries) throw error
      if (error instanceof AlreadyStored) {
        for (const [key, row] of await findExisting(sql, error.keys)) existing.set(key, row)
        continue
      }
      if (error instanceof FencingConflict) {
        options.onFencingConflict?.(error.conversations)
        for (const id of error.conversations) states.delete(id)
        continue
      }
      throw error
    }
    for (const [id, state] of plan.states) states.set(id, state)
    return plan
  }
}
