import {type ChatMessage, type ConversationState, type DeliveryMark, type PendingSend, peerOf, shortId} from '../model.js'
import type {PresenceView} from '../../protocol/frames.js'

// Text of the chat screens, kept out of the components so it can be tested as strings.

export {shortId} from '../model.js'

/** A user as the screens name them: "you", or the first 8 characters of the id. */
export function who(user: string, me: string): string {
  return user === me ? 'you' : shortId(user)
}

export function conversationTitle(conv: ConversationState, me: string): string {
  if (conv.kind === 'group') return conv.name ?? `group ${shortId(conv.id)}`
  if (conv.kind === 'direct') {
    const peer = peerOf(conv, me)
    return peer === me ? 'notes to self' : peer ? shortId(peer) : `direct ${shortId(conv.id)}`
  }
  return `… ${shortId(conv.id)}`
}

export const MARKS: Record<DeliveryMark, string> = {pending: '…', failed: '✗ not sent', sent: '✓', delivered: '✓✓', read: '✓✓ read'}

export function clock(ts: string): string {
  const d = new Date(ts)
  if (Number.isNaN(d.getTime())) return '--:--'
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
}

/** The body of a message as one line: its text, or what happened to it. */
export function messageText(m: ChatMessage, me: string): string {
  if (m.deleted) return '(message deleted)'
  if (m.undecryptable) return `⚠ cannot decrypt: ${m.undecryptable}`
  if (m.kind === 'system') return systemText(m, me)
  const text = m.text ?? (typeof m.body === 'string' ? m.body : m.body === null ? '' : `[${m.kind}]`)
  return text.replace(/\s*\n\s*/g, ' ⏎ ')
}

export function systemText(m: ChatMessage, me: string): string {
  const b = (m.body ?? {}) as {action?: string; actor?: string; name?: string; members?: string[]; member?: string; newOwner?: string}
  const actor = b.actor ? who(b.actor, me) : who(m.sender, me)
  const list = (users?: string[]) => (users ?? []).map((u) => who(u, me)).join(', ')
  switch (b.action) {
    case 'group.created':
      return `${actor} created the group "${b.name ?? ''}"`
    case 'group.updated':
      return `${actor} changed the group${b.name ? ` name to "${b.name}"` : ''}`
    case 'members.added':
      return `${actor} added ${list(b.members)}`
    case 'members.removed':
      return `${actor} removed ${list(b.members)}`
    case 'member.left':
      return `${actor} left${b.newOwner ? `; ${who(b.newOwner, me)} is the owner now` : ''}`
    case 'member.joined':
      return `${actor} joined`
    case 'member.promoted':
      return `${actor} made ${who(b.member ?? '', me)} an admin`
    case 'member.demoted':
      return `${actor} made ${who(b.member ?? '', me)} a member`
    case 'member.banned':
      return `${actor} banned ${who(b.member ?? '', me)}`
    case 'group.deleted':
      return `${actor} deleted the group`
    default:
      return `(${b.action ?? 'system message'})`
  }
}

export function reactionsText(m: ChatMessage): string {
  const parts = Object.entries(m.reactions).map(([emoji, users]) => (users.length > 1 ? `${emoji}${users.length}` : emoji))
  return parts.length > 0 ? ` [${parts.join(' ')}]` : ''
}

export function pendingText(p: PendingSend): string {
  return p.text.replace(/\s*\n\s*/g, ' ⏎ ')
}

export function presenceText(p: PresenceView | undefined): string {
  if (!p) return ''
  if (p.status === 'offline') return p.lastSeen ? `offline, last seen ${clock(p.lastSeen)}` : 'offline'
  return p.custom ? `${p.status}: ${p.custom}` : p.status
}

export function presenceDot(p: PresenceView | undefined): string {
  if (!p) return ' '
  return p.status === 'offline' ? '○' : '●'
}

/** "ab12cd34 is typing…" / "ab12cd34 and 2 others are typing…" */
export function typingText(users: string[], me: string): string {
  if (users.length === 0) return ''
  const first = who(users[0]!, me)
  if (users.length === 1) return `${first} is typing…`
  return `${first} and ${users.length - 1} other${users.length > 2 ? 's' : ''} are typing…`
}
