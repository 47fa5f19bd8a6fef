import {randomBytes, randomUUID} from 'node:crypto'

import type {IngestEnvelope} from '../../core/envelope.js'
import type {GroupCommand} from '../../core/group-rules.js'
import {directConversationId, newId} from '../../core/ids.js'
import type {ContentCommand} from '../../core/message-rules.js'
import {hideMessages, isBlocked, listBlocks, messageVersions, readForForward} from '../../core/store/messages.js'
import type {Clock, Sql} from '../../core/ports.js'
import {applyReceipt, ensureDirectConversation, inbox, listMembers, syncMessages, updateMemberSettings} from '../../core/store/conversations.js'
import {assertUsersExist, groupInfo, listJoinRequests, resolveInvite} from '../../core/store/groups.js'
import {searchMessages} from '../../core/store/search.js'
import {forDevice} from '../../core/e2e/envelope.js'
import {PREKEYS} from '../../core/e2e/keys.js'
import {assertEnvelopeAddressesDevices, countPreKeys, fetchBundles, listKeyDevices, refuseEditOfEncrypted, uploadKeys} from '../../core/store/e2e-keys.js'
import {MsgrError} from '../../errors.js'
import {E2E_KIND, type GroupCommandResult, LIMITS, type OpArgs, type Request} from '../../protocol/frames.js'
import type {FanoutPublisher} from '../fanout-publisher.js'
import {attachMedia} from '../media/attach.js'
import {type DeviceOpsContext, handleDeviceOp} from '../push/device-ops.js'
import type {Metrics} from '../metrics.js'
import type {Identity} from './connection.js'
import type {GatewayLimits} from './limits.js'
import type {PendingSends} from './pending-sends.js'
import type {PresenceService} from './presence.js'

// What each op does. One exhaustive switch: adding an op to the protocol module without handling it
// here fails to compile.

export interface OpContext {
  nodeId: string
  presence: PresenceService
  metrics: Metrics
  sql: Sql
  pending: PendingSends
  fanout: FanoutPublisher
  clock: Clock
  /** Device and push ops (src/server/push/device-ops.ts): configured providers, and closing a logged-out device's sockets. */
  devices: Omit<DeviceOpsContext, 'sql' | 'clock'>
  /** Rate limits (src/core/rate-policy.ts): the user's budget per op, and the duplicate-content rule. */
  limits: Pick<GatewayLimits, 'beforeOp' | 'beforeSend'>
}

export async function handleOp(ctx: OpContext, who: Identity, request: Request, connId = ''): Promise<object> {
  await ctx.limits.beforeOp(who, request.op)
  switch (request.op) {
    case 'ping':
      return {}
    case 'conv.direct': {
      if (await isBlocked(ctx.sql, request.args.with, who.userId)) throw new MsgrError('forbidden', 'you cannot message this user')
      const {id, members} = await ensureDirectConversation(ctx.sql, who.userId, request.args.with)
      return {conversation: id, kind: 'direct', members}
    }
    case 'send':
      return send(ctx, who, request.args)
    case 'sync': {
      const page = await syncMessages(ctx.sql, who.userId, request.args.conversation, request.args.after, request.args.limit)
      // Encrypted messages: each device gets only its own ciphertext (docs/e2e.md).
      return {...page, messages: page.messages.map((m) => forDevice(m, who.deviceId))}
    }
    case 'inbox':
      return inbox(ctx.sql, who.userId, request.args.after)
    case 'search':
      return searchMessages(ctx.sql, who.userId, request.args)
    case 'receipt':
      return receipt(ctx, who, request.args)
    case 'conv.settings':
      return updateMemberSettings(ctx.sql, who.userId, request.args.conversation, request.args)
    case 'group.info':
      return groupInfo(ctx.sql, who.userId, request.args.conversation)
    case 'group.requests':
      return listJoinRequests(ctx.sql, who.userId, request.args.conversation)
    case 'group.create': {
      const {name, members, description, picture} = request.args
      await assertUsersExist(ctx.sql, members)
      return command(ctx, who, newId(), {type: 'create', name, members, description, picture})
    }
    case 'group.update': {
      const {conversation, name, description, picture} = request.args
      return command(ctx, who, conversation, {type: 'update', name, description, picture})
    }
    case 'group.add':
      await assertUsersExist(ctx.sql, request.args.members)
      return command(ctx, who, request.args.conversation, {type: 'add', members: request.args.members})
    case 'group.remove':
      return command(ctx, who, request.args.conversation, {type: 'remove', members: request.args.members})
    case 'group.leave':
      return command(ctx, who, request.args.conversation, {type: 'leave'})
    case 'group.delete':
      return command(ctx, who, request.args.conversation, {type: 'delete'})
    case 'group.promote':
    case 'group.demote':
    case 'group.ban':
    case 'group.unban':
    case 'group.approve':
    case 'group.deny': {
      const type = request.op.slice('group.'.length) as 'promote' | 'demote' | 'ban' | 'unban' | 'approve' | 'deny'
      await assertUsersExist(ctx.sql, [request.args.member])
      return command(ctx, who, request.args.conversation, {type, member: request.args.member})
    }
    case 'group.invite.create':
      return command(ctx, who, request.args.conversation, {type: 'invite.create', code: randomBytes(12).toString('base64url'), approval: request.args.approval})
    case 'group.invite.revoke':
      return command(ctx, who, request.args.conversation, {type: 'invite.revoke', code: request.args.code})
    case 'group.join': {
      const conversation = await resolveInvite(ctx.sql, request.args.code)
      return command(ctx, who, conversation, {type: 'join', code: request.args.code})
    }
    case 'react':
      return entry(ctx, who, request.args.conversation, {type: 'message.react', target: request.args.seq, emoji: request.args.emoji, remove: request.args.remove})
    case 'edit':
      await refuseEditOfEncrypted(ctx.sql, request.args.conversation, request.args.seq, who.userId)
      return entry(ctx, who, request.args.conversation, {type: 'message.edit', target: request.args.seq, body: request.args.body})
    case 'delete':
      if (request.args.scope === 'me') return hide(ctx, who, request.args.conversation, request.args.seq)
      return entry(ctx, who, request.args.conversation, {type: 'message.delete', target: request.args.seq})
    case 'forward':
      return forward(ctx, who, request.args)
    case 'versions':
      return messageVersions(ctx.sql, who.userId, request.args.conversation, request.args.seq)
    case 'typing':
      await ctx.presence.typing(who, connId, request.args.conversation, request.args.state)
      return {}
    case 'presence.set':
      return ctx.presence.set(who.userId, request.args.status, request.args.custom)
    case 'presence.get':
      return {presence: await ctx.presence.get(who.userId, request.args.users)}
    case 'user.block':
    case 'user.unblock': {
      const other = request.args.user
      await assertUsersExist(ctx.sql, [other])
      await command(ctx, who, directConversationId(who.userId, other), {type: request.op === 'user.block' ? 'block' : 'unblock', user: other})
      return {}
    }
    case 'user.blocks':
      return listBlocks(ctx.sql, who.userId)
    case 'keys.upload':
      return uploadKeys(ctx.sql, who, request.args)
    case 'keys.count':
      return countPreKeys(ctx.sql, who.deviceId)
    case 'keys.devices':
      return listKeyDevices(ctx.sql, request.args.user)
    case 'keys.bundle': {
      const {low, ...result} = await fetchBundles(ctx.sql, request.args.user, request.args.devices)
      if (low.length > 0) {
        await ctx.fanout.publish(
          low.map(({device, preKeys}) => ({recipients: [request.args.user], event: {ev: 'keys.low', device, preKeys, threshold: PREKEYS.lowThreshold}})),
        )
      }
      return result
    }
    case 'device.list':
    case 'device.rename':
    case 'device.logout':
    case 'push.register':
    case 'push.unregister':
    case 'notify.prefs':
    case 'push.history':
      return handleDeviceOp({sql: ctx.sql, clock: ctx.clock, ...ctx.devices}, who, request)
    default: {
      const unreachable: never = request
      throw new MsgrError('unknown_op', `unknown op ${(unreachable as {op: string}).op}`)
    }
  }
}

function assertBodySize(body: unknown, kind?: string): void {
  const bodySize = typeof body === 'string' ? Buffer.byteLength(body) : Buffer.byteLength(JSON.stringify(body))
  const limit = kind === E2E_KIND ? LIMITS.maxEncryptedBodyBytes : LIMITS.maxBodyBytes
  if (bodySize > limit) throw new MsgrError('too_large', `body is ${bodySize} bytes; the limit is ${limit}`)
}

async function send(ctx: OpContext, who: Identity, args: Omit<OpArgs<'send'>, 'body'> & {body: unknown}, meta?: Record<string, unknown>): Promise<object> {
  assertBodySize(args.body, args.kind)
  // The device check queries the database: only for a body already known to fit.
  if (args.kind === E2E_KIND) await assertEnvelopeAddressesDevices(ctx.sql, args.conversation, who, args.body)
  await ctx.limits.beforeSend(who, args.conversation, args.kind, args.body)
  const body = await attachMedia(ctx.sql, who.userId, args)
  const envelope: IngestEnvelope = {
    v: 1,
    conv: args.conversation,
    sender: who.userId,
    senderDevice: who.deviceId,
    clientMsgId: args.clientMsgId,
    kind: args.kind,
    body,
    gw: ctx.nodeId,
    at: ctx.clock.now(),
  }
  if (args.replyTo !== undefined) envelope.replyTo = args.replyTo
  if (meta) envelope.meta = meta
  const outcome = await ctx.pending.submit(envelope)
  if (!outcome.ok) throw new MsgrError(outcome.error.code, outcome.error.message)
  if (outcome.seq === null) throw new MsgrError('internal', 'a message was stored without a seq')
  ctx.metrics.sendAckSeconds.observe((ctx.clock.now() - envelope.at) / 1000)
  return outcome.duplicate
    ? {seq: outcome.seq, messageId: outcome.messageId, ts: outcome.ts, duplicate: true}
    : {seq: outcome.seq, messageId: outcome.messageId, ts: outcome.ts}
}

/** A reaction, edit or delete for everyone: an entry of the stream that also changes its target. */
async function entry(ctx: OpContext, who: Identity, conversation: string, cmd: ContentCommand): Promise<{seq?: number}> {
  if (cmd.type === 'message.edit') assertBodySize(cmd.body)
  const {seq} = await command(ctx, who, conversation, cmd)
  return seq === undefined ? {} : {seq}
}

async function hide(ctx: OpContext, who: Identity, conversation: string, seq: number): Promise<object> {
  await hideMessages(ctx.sql, who.userId, conversation, [seq])
  await ctx.fanout.publish([{recipients: [who.userId], skipDevice: who.deviceId, event: {ev: 'hidden', conversation, seqs: [seq]}}])
  return {}
}

/** A copy of a message the caller can read, sent as the caller's own, with attribution. */
async function forward(ctx: OpContext, who: Identity, args: OpArgs<'forward'>): Promise<object> {
  const source = await readForForward(ctx.sql, who.userId, args.from.conversation, args.from.seq)
  if (source.kind === E2E_KIND) throw new MsgrError('invalid_request', 'an encrypted message cannot be forwarded by the server: re-encrypt it as a new send')
  return send(ctx, who, {conversation: args.conversation, clientMsgId: args.clientMsgId, kind: source.kind, body: source.body}, {
    forwardedFrom: {conversation: args.from.conversation, seq: args.from.seq, sender: source.sender},
  })
}

/** Sends a command through the conversation's stream and waits for the worker's verdict. */
async function command(ctx: OpContext, who: Identity, conversation: string, cmd: GroupCommand | ContentCommand): Promise<GroupCommandResult> {
  const outcome = await ctx.pending.submit({
    v: 1,
    conv: conversation,
    sender: who.userId,
    senderDevice: who.deviceId,
    clientMsgId: `cmd:${randomUUID()}`,
    kind: 'system',
    body: null,
    cmd,
    gw: ctx.nodeId,
    at: ctx.clock.now(),
  })
  if (!outcome.ok) throw new MsgrError(outcome.error.code, outcome.error.message, outcome.error.details)
  const result: GroupCommandResult = {conversation, ...(outcome.result as Omit<GroupCommandResult, 'conversation'>)}
  if (outcome.seq !== null) result.seq = outcome.seq
  return result
}

async function receipt(ctx: OpContext, who: Identity, args: OpArgs<'receipt'>): Promise<object> {
  const result = await applyReceipt(ctx.sql, who.userId, args.conversation, args.type, args.seq)
  if (result.changed) {
    const members = await listMembers(ctx.sql, args.conversation)
    await ctx.fanout.publish([
      {
        // Large groups: a receipt to thousands of members per read is the classic fanout storm; there
        // only the reader's own devices hear of it (inbox and sync carry watermarks for the rest).
        recipients: members.length > LIMITS.receiptFanoutMembers ? [who.userId] : members,
        skipDevice: who.deviceId,
        event: {ev: 'receipt', conversation: args.conversation, user: who.userId, device: who.deviceId, type: args.type, seq: result.seq},
      },
    ])
  }
  return {seq: result.seq}
}
