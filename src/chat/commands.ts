import {RequestError} from '../client/client.js'
import type {MessageCodec, Request} from './codec.js'
import {type ChatCommand, HELP_LINES} from './input.js'
import {type ChatAction, type ChatMessage, type ChatState, type ConversationState, type IncomingMessage, peerOf, shortId} from './model.js'

// What each compose-line command does, through the protocol ops (docs/chat.md lists them).

/** The parts of a session a command may use. */
export interface CommandHost {
  state(): ChatState
  codec(): MessageCodec
  request: Request
  dispatch(action: ChatAction): void
  select(conversation: string | undefined): void
  queueSend(conv: ConversationState, text: string, replyTo?: number): void
  refreshInbox(): Promise<void>
  refreshPresence(users: string[]): Promise<void>
  now(): number
}

/** Runs one command; resolves with a line for the user, or rejects with a coded error. */
export async function runCommand(host: CommandHost, command: ChatCommand): Promise<string | undefined> {
  const me = host.state().me
  switch (command.cmd) {
    case 'send': {
      const conv = open(host)
      if (command.replyTo !== undefined) target(conv, command.replyTo)
      host.queueSend(conv, command.text, command.replyTo)
      return undefined
    }
    case 'reply': {
      const conv = open(host)
      target(conv, command.seq)
      if (command.text === undefined) return `replying to #${command.seq} (Esc cancels)`
      host.queueSend(conv, command.text, command.seq)
      return undefined
    }
    case 'dm': {
      const r = await host.request('conv.direct', {with: command.user})
      host.dispatch({type: 'conversation', id: r.conversation, kind: 'direct', members: r.members})
      host.select(r.conversation)
      void host.refreshPresence([command.user])
      return `direct conversation with ${shortId(command.user)}${host.state().e2e ? ' (end-to-end encrypted)' : ''}`
    }
    case 'group': {
      const r = await host.request('group.create', {name: command.name, members: command.members})
      host.dispatch({type: 'conversation', id: r.conversation, kind: 'group', name: command.name, members: r.members})
      host.select(r.conversation)
      return `created group "${command.name}" with ${(r.members?.length ?? 1) - 1} other member(s)`
    }
    case 'add': {
      const conv = open(host, 'group')
      const r = await host.request('group.add', {conversation: conv.id, members: command.members})
      return r.members?.length ? `added ${r.members.map(shortId).join(', ')}` : 'everyone named is already a member'
    }
    case 'invite': {
      const conv = open(host, 'group')
      const r = await host.request('group.invite.create', {conversation: conv.id, approval: command.approval})
      return `invite code ${r.code}: others type /join ${r.code}${command.approval ? ' (joining needs approval)' : ''}`
    }
    case 'join': {
      const r = await host.request('group.join', {code: command.code})
      if (r.requested) return 'join request sent: an admin has to approve it'
      host.dispatch({type: 'conversation', id: r.conversation, kind: 'group'})
      await host.refreshInbox()
      host.select(r.conversation)
      return `joined ${host.state().conversations[r.conversation]?.name ?? 'the group'}`
    }
    case 'leave': {
      const conv = open(host, 'group')
      await host.request('group.leave', {conversation: conv.id})
      await host.refreshInbox()
      return `you left ${conv.name ?? 'the group'}`
    }
    case 'react': {
      const conv = open(host)
      target(conv, command.seq)
      const r = await host.request('react', {conversation: conv.id, seq: command.seq, emoji: command.emoji, remove: command.remove})
      ownEntry(host, conv.id, r.seq, 'reaction', {target: command.seq, emoji: command.emoji, op: command.remove ? 'remove' : 'add'})
      return undefined
    }
    case 'edit': {
      const conv = open(host)
      const m = target(conv, command.seq)
      if (m.sender !== me.userId) throw new RequestError({code: 'forbidden', message: `#${command.seq} is not your message: only its sender can edit it`})
      if (host.codec().encrypts(conv) || m.encrypted) {
        throw new RequestError({code: 'invalid_request', message: 'edits are not supported in end-to-end encrypted conversations (the server would see the text)'})
      }
      const r = await host.request('edit', {conversation: conv.id, seq: command.seq, body: command.text})
      ownEntry(host, conv.id, r.seq, 'edit', {target: command.seq, body: command.text, version: m.version + 1})
      return undefined
    }
    case 'delete': {
      const conv = open(host)
      target(conv, command.seq)
      const r = await host.request('delete', {conversation: conv.id, seq: command.seq, scope: command.scope})
      if (command.scope === 'me') host.dispatch({type: 'hidden', conversation: conv.id, seqs: [command.seq]})
      else ownEntry(host, conv.id, r.seq, 'delete', {target: command.seq})
      return command.scope === 'me' ? `#${command.seq} hidden on your devices` : `#${command.seq} deleted for everyone`
    }
    case 'presence': {
      const r = await host.request('presence.set', command.custom ? {status: command.status, custom: command.custom} : {status: command.status})
      return `your presence: ${r.status}${r.custom ? ` (${r.custom})` : ''}`
    }
    case 'info':
      return info(host, open(host))
    case 'safety': {
      const conv = open(host)
      const peer = peerOf(conv, me.userId)
      if (!peer) throw new RequestError({code: 'invalid_request', message: 'safety numbers belong to direct conversations: open one with /dm'})
      const number = await host.codec().safetyNumber(peer)
      return `safety number with ${shortId(peer)}: ${number}  (compare it with theirs in person or on a call)`
    }
    case 'whoami':
      return `you are ${me.userId}${me.phone ? ` (${me.phone})` : ''}, device ${me.deviceId}`
    case 'help':
      return HELP_LINES.join('\n')
    case 'quit':
      return undefined
  }
}

/** The open conversation, which the command needs (a group, for group commands) and the user is in. */
function open(host: CommandHost, kind?: 'group'): ConversationState {
  const state = host.state()
  const conv = state.selected ? state.conversations[state.selected] : undefined
  if (!conv) throw new RequestError({code: 'invalid_request', message: 'open a conversation first: ↑/↓, /dm <user-id>, /group <name> or /join <code>'})
  if (kind === 'group' && conv.kind !== 'group') throw new RequestError({code: 'invalid_request', message: 'this is not a group'})
  if (conv.status !== 'member') throw new RequestError({code: 'forbidden', message: `you are no longer a member (${conv.status})`})
  return conv
}

function target(conv: ConversationState, seq: number): ChatMessage {
  const m = conv.messages.find((x) => x.seq === seq)
  if (!m || m.deleted || m.hidden) throw new RequestError({code: 'not_found', message: `no message #${seq} here`})
  return m
}

/** My own reaction/edit/delete: the acting device gets the reply, not the event; apply it as the entry. */
function ownEntry(host: CommandHost, conversation: string, seq: number | undefined, kind: string, body: Record<string, unknown>): void {
  if (!seq) return
  const me = host.state().me
  const entry: IncomingMessage = {seq, messageId: '', sender: me.userId, senderDevice: me.deviceId, ts: new Date(host.now()).toISOString(), kind, body, clientMsgId: ''}
  host.dispatch({type: 'messages', conversation, messages: [entry]})
}

async function info(host: CommandHost, conv: ConversationState): Promise<string> {
  const state = host.state()
  if (conv.kind === 'group') {
    const g = await host.request('group.info', {conversation: conv.id})
    return `${g.name}: ${g.members.map((m) => `${m.user === state.me.userId ? 'you' : shortId(m.user)} (${m.role})`).join(', ')}`
  }
  const peer = peerOf(conv, state.me.userId)
  const p = peer ? state.presence[peer] : undefined
  return `direct conversation with ${peer ?? '?'}${p ? `, ${p.status}` : ''}${host.codec().encrypts(conv) ? ', end-to-end encrypted' : ''}`
}
