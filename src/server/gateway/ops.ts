import type {IngestEnvelope} from '../../core/envelope.js'
import type {Clock, Sql} from '../../core/ports.js'
import {applyReceipt, ensureDirectConversation, inbox, listMembers, syncMessages} from '../../core/store/conversations.js'
import {MsgrError} from '../../errors.js'
import {LIMITS, type OpArgs, type Request} from '../../protocol/frames.js'
import type {FanoutPublisher} from '../fanout-publisher.js'
import type {Metrics} from '../metrics.js'
import type {Identity} from './connection.js'
import type {PendingSends} from './pending-sends.js'

// What each op does. One exhaustive switch: adding an op to the protocol module without handling it
// here fails to compile.

export interface OpContext {
  nodeId: string
  metrics: Metrics
  sql: Sql
  pending: PendingSends
  fanout: FanoutPublisher
  clock: Clock
}

export async function handleOp(ctx: OpContext, who: Identity, request: Request): Promise<object> {
  switch (request.op) {
    case 'ping':
      return {}
    case 'conv.direct': {
      const {id, members} = await ensureDirectConversation(ctx.sql, who.userId, request.args.with)
      return {conversation: id, kind: 'direct', members}
    }
    case 'send':
      return send(ctx, who, request.args)
    case 'sync':
      return syncMessages(ctx.sql, who.userId, request.args.conversation, request.args.after, request.args.limit)
    case 'inbox':
      return inbox(ctx.sql, who.userId, request.args.after)
    case 'receipt':
      return receipt(ctx, who, request.args)
    default: {
      const unreachable: never = request
      throw new MsgrError('unknown_op', `unknown op ${(unreachable as {op: string}).op}`)
    }
  }
}

async function send(ctx: OpContext, who: Identity, args: OpArgs<'send'>): Promise<object> {
  const bodySize = typeof args.body === 'string' ? Buffer.byteLength(args.body) : Buffer.byteLength(JSON.stringify(args.body))
  if (bodySize > LIMITS.maxBodyBytes) throw new MsgrError('too_large', `body is ${bodySize} bytes; the limit is ${LIMITS.maxBodyBytes}`)
  const envelope: IngestEnvelope = {
    v: 1,
    conv: args.conversation,
    sender: who.userId,
    senderDevice: who.deviceId,
    clientMsgId: args.clientMsgId,
    kind: args.kind,
    body: args.body,
    gw: ctx.nodeId,
    at: ctx.clock.now(),
  }
  if (args.replyTo !== undefined) envelope.replyTo = args.replyTo
  const outcome = await ctx.pending.submit(envelope)
  if (!outcome.ok) throw new MsgrError(outcome.error.code, outcome.error.message)
  ctx.metrics.sendAckSeconds.observe((ctx.clock.now() - envelope.at) / 1000)
  return outcome.duplicate
    ? {seq: outcome.seq, messageId: outcome.messageId, ts: outcome.ts, duplicate: true}
    : {seq: outcome.seq, messageId: outcome.messageId, ts: outcome.ts}
}

async function receipt(ctx: OpContext, who: Identity, args: OpArgs<'receipt'>): Promise<object> {
  const result = await applyReceipt(ctx.sql, who.userId, args.conversation, args.type, args.seq)
  if (result.changed) {
    const members = await listMembers(ctx.sql, args.conversation)
    await ctx.fanout.publish([
      {
        recipients: members,
        skipDevice: who.deviceId,
        event: {ev: 'receipt', conversation: args.conversation, user: who.userId, device: who.deviceId, type: args.type, seq: result.seq},
      },
    ])
  }
  return {seq: result.seq}
}
