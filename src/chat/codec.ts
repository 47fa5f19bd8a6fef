import type {OpInput} from '../client/client.js'
import type {MessageView, OpName, ResultOf, SendResult} from '../protocol/frames.js'
import {type ConversationState, textOf} from './model.js'

// How the chat turns what the user typed into a `send`, and a received message into text: in the clear
// (PlainCodec) or end to end encrypted (E2eCodec, src/chat/e2e-codec.ts, for direct conversations).

/** Sends an op over whatever connection the session has now (rejects with `unavailable` when none). */
export type Request = <O extends OpName>(op: O, args?: OpInput<O>) => Promise<ResultOf<O>>

export interface Draft {
  text: string
  replyTo?: number
}

/** A received message's body made readable. */
export interface Decoded {
  body: unknown
  text?: string
  replyTo?: number
  encrypted?: boolean
  /** The message is encrypted and could not be decrypted: why. */
  undecryptable?: string
}

export interface MessageCodec {
  readonly label: 'plain' | 'e2e'
  /** Whether messages this client sends to `conv` are encrypted (edits are refused there). */
  encrypts(conv: ConversationState): boolean
  /** Sends one message; called again with the same clientMsgId when the outcome was unknown. */
  send(conv: ConversationState, draft: Draft, clientMsgId: string): Promise<SendResult>
  decode(message: MessageView): Promise<Decoded>
  /** The safety number to compare with `peer` out of band. */
  safetyNumber(peer: string): Promise<string>
  /** After every (re)connect, before the catch-up sync (E2E: register keys, so peers can write to us). */
  onConnect?(): Promise<void>
  close?(): void
}

export class PlainCodec implements MessageCodec {
  readonly label = 'plain'
  constructor(private readonly request: Request) {}

  encrypts(): boolean {
    return false
  }

  send(conv: ConversationState, draft: Draft, clientMsgId: string): Promise<SendResult> {
    return this.request('send', {conversation: conv.id, clientMsgId, kind: 'text', body: draft.text, ...(draft.replyTo ? {replyTo: draft.replyTo} : {})})
  }

  async decode(message: MessageView): Promise<Decoded> {
    return plainDecode(message)
  }

  async safetyNumber(): Promise<string> {
    throw new Error('end-to-end encryption is off (started with --no-e2e): there is no safety number')
  }
}

/** Messages that are not encrypted, as they are; an encrypted one this client cannot read says so. */
export function plainDecode(message: MessageView): Decoded {
  if (message.kind === 'encrypted') return {body: message.body, encrypted: true, undecryptable: 'end-to-end encrypted (E2E is off in this client)'}
  return {body: message.body, text: textOf(message.body)}
}
