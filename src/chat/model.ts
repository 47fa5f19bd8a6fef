import type {InboxEntry, MessageView, PresenceView, ReceiptEvent, TypingEvent} from '../protocol/frames.js'

// The chat client's state as a pure reducer over protocol facts (inbox entries, messages from sync and
// events, send replies, receipts, typing, presence). No I/O: the session feeds it, the screens read it.

/** Messages kept per conversation (older ones below the cursor are dropped from memory and disk). */
export const KEEP_MESSAGES = 400
/** A conversation seen for the first time is synced from this many seqs before its last one. */
export const FIRST_SYNC_WINDOW = 200
export const UNREAD_CAP = 999

/** Kinds people write; everything else (system messages, stream entries, unknown kinds) is not "unread". */
export const CONTENT_KINDS: ReadonlySet<string> = new Set(['text', 'encrypted', 'image', 'video', 'audio', 'file', 'location', 'contact', 'sticker'])
const ENTRY_KINDS: ReadonlySet<string> = new Set(['reaction', 'edit', 'delete'])

/** A message as the session hands it to the model: the wire fields, with its body decoded for display. */
export interface IncomingMessage extends Pick<MessageView, 'seq' | 'messageId' | 'sender' | 'senderDevice' | 'ts' | 'kind' | 'body' | 'clientMsgId' | 'replyTo'> {
  deleted?: boolean
  hidden?: boolean
  edited?: boolean
  version?: number
  /** Text to show (decrypted for e2e messages). */
  text?: string
  /** Set when an encrypted message could not be decrypted: why. */
  undecryptable?: string
  encrypted?: boolean
}

export interface ChatMessage extends IncomingMessage {
  version: number
  /** emoji -> users who reacted with it (from reaction entries). */
  reactions: Record<string, string[]>
}

export interface PendingSend {
  conversation: string
  clientMsgId: string
  text: string
  replyTo?: number
  /** A non-retryable refusal: the message stays shown as failed. */
  failed?: string
}

export interface Watermarks {
  delivered: number
  read: number
}

export type ConversationStatus = InboxEntry['status']

export interface ConversationState {
  id: string
  kind: 'direct' | 'group' | 'unknown'
  name?: string
  members: string[]
  memberCount: number
  status: ConversationStatus
  muted: boolean
  lastSeq: number
  lastTs: string | null
  /** The caller's own watermarks. */
  readSeq: number
  deliveredSeq: number
  /** `unread` as the last inbox reported it, valid for messages up to `unreadBaseSeq`. */
  unreadBase: number
  unreadBaseSeq: number
  /** Highest seq up to which every seq is held (or was, before trimming): sync continues after it. */
  cursor: number
  /** Held messages and stream entries, ascending by seq, unique by seq. */
  messages: ChatMessage[]
  /** Other members' receipt watermarks (live `receipt` events; kept on disk). */
  receipts: Record<string, Watermarks>
  /** user -> when (ms) their `typing: true` expires. */
  typing: Record<string, number>
}

export type ConnectionStatus = 'connecting' | 'online' | 'reconnecting' | 'offline'

export interface ChatState {
  me: {userId: string; deviceId: string; phone?: string}
  conversations: Record<string, ConversationState>
  selected?: string
  presence: Record<string, PresenceView>
  outbox: PendingSend[]
  inboxToken?: string
  connection: {status: ConnectionStatus; node?: string; url?: string; error?: string; reconnects: number}
  notice?: {text: string; error: boolean}
  /** Whether direct conversations are end-to-end encrypted by this client. */
  e2e: boolean
}

export type ChatAction =
  | {type: 'inbox'; entries: InboxEntry[]}
  | {type: 'inbox-token'; token: string}
  | {type: 'conversation'; id: string; kind: 'direct' | 'group'; name?: string; members?: string[]}
  | {type: 'messages'; conversation: string; messages: IncomingMessage[]}
  | {type: 'queued'; pending: PendingSend}
  | {type: 'sent'; conversation: string; clientMsgId: string; seq: number; messageId: string; ts: string}
  | {type: 'send-failed'; clientMsgId: string; error: string}
  | {type: 'receipt'; event: Omit<ReceiptEvent, 'ev'>}
  | {type: 'read'; conversation: string; seq: number}
  | {type: 'typing'; event: Omit<TypingEvent, 'ev'>; now: number}
  | {type: 'tick'; now: number}
  | {type: 'presence'; views: PresenceView[]}
  | {type: 'hidden'; conversation: string; seqs: number[]}
  | {type: 'select'; conversation: string | undefined}
  | {type: 'connection'; status: ConnectionStatus; node?: string; url?: string; error?: string}
  | {type: 'notice'; text: string; error?: boolean}

export function initialState(me: ChatState['me'], e2e = false): ChatState {
  return {me, conversations: {}, presence: {}, outbox: [], connection: {status: 'connecting', reconnects: 0}, e2e}
}

export function reduce(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'inbox':
      return applyInbox(state, action.entries)
    case 'inbox-token':
      return {...state, inboxToken: action.token}
    case 'conversation': {
      const conv = state.conversations[action.id] ?? emptyConversation(action.id)
      const next = {
        ...conv,
        kind: action.kind,
        name: action.name ?? conv.name,
        members: action.members ?? conv.members,
        memberCount: action.members?.length ?? conv.memberCount,
        status: 'member' as const,
      }
      return withConversation(state, next)
    }
    case 'messages':
      return applyMessages(state, action.conversation, action.messages)
    case 'queued':
      if (state.outbox.some((p) => p.clientMsgId === action.pending.clientMsgId)) return state
      return {...state, outbox: [...state.outbox, action.pending]}
    case 'sent': {
      const pending = state.outbox.find((p) => p.clientMsgId === action.clientMsgId)
      const outbox = state.outbox.filter((p) => p.clientMsgId !== action.clientMsgId)
      if (!pending) return {...state, outbox}
      const message: IncomingMessage = {
        seq: action.seq,
        messageId: action.messageId,
        sender: state.me.userId,
        senderDevice: state.me.deviceId,
        ts: action.ts,
        kind: 'text',
        body: pending.text,
        text: pending.text,
        clientMsgId: pending.clientMsgId,
        ...(pending.replyTo ? {replyTo: pending.replyTo} : {}),
        ...(state.e2e && state.conversations[pending.conversation]?.kind === 'direct' ? {encrypted: true} : {}),
      }
      return applyMessages({...state, outbox}, pending.conversation, [message])
    }
    case 'send-failed':
      return {...state, outbox: state.outbox.map((p) => (p.clientMsgId === action.clientMsgId ? {...p, failed: action.error} : p))}
    case 'receipt':
      return applyReceipt(state, action.event)
    case 'read': {
      const conv = state.conversations[action.conversation]
      if (!conv || action.seq <= conv.readSeq) return state
      return withConversation(state, {...conv, readSeq: action.seq, deliveredSeq: Math.max(conv.deliveredSeq, action.seq)})
    }
    case 'typing': {
      const conv = state.conversations[action.event.conversation]
      if (!conv || action.event.user === state.me.userId) return state
      const typing = {...conv.typing}
      if (action.event.state) typing[action.event.user] = action.now + action.event.expiresInMs
      else delete typing[action.event.user]
      return withConversation(state, {...conv, typing})
    }
    case 'tick':
      return expireTyping(state, action.now)
    case 'presence': {
      const presence = {...state.presence}
      for (const view of action.views) presence[view.user] = view
      return {...state, presence}
    }
    case 'hidden': {
      const conv = state.conversations[action.conversation]
      if (!conv) return state
      const seqs = new Set(action.seqs)
      const messages = conv.messages.map((m) => (seqs.has(m.seq) ? {...m, hidden: true, body: null, text: undefined} : m))
      return withConversation(state, {...conv, messages})
    }
    case 'select':
      return {...state, selected: action.conversation}
    case 'connection': {
      const reconnects = state.connection.reconnects + (action.status === 'online' && state.connection.status !== 'online' && state.connection.node ? 1 : 0)
      return {...state, connection: {status: action.status, node: action.node ?? state.connection.node, url: action.url ?? state.connection.url, error: action.error, reconnects}}
    }
    case 'notice':
      return {...state, notice: {text: action.text, error: action.error ?? false}}
  }
}

export function emptyConversation(id: string): ConversationState {
  return {
    id,
    kind: 'unknown',
    members: [],
    memberCount: 0,
    status: 'member',
    muted: false,
    lastSeq: 0,
    lastTs: null,
    readSeq: 0,
    deliveredSeq: 0,
    unreadBase: 0,
    unreadBaseSeq: 0,
    cursor: 0,
    messages: [],
    receipts: {},
    typing: {},
  }
}

// ---- derived views ----

/** Messages from other people after the caller's read watermark (content only, not deleted), at most 999. */
export function unreadCount(conv: ConversationState, me: string): number {
  const from = Math.max(conv.readSeq, conv.unreadBaseSeq)
  const base = conv.readSeq >= conv.unreadBaseSeq ? 0 : conv.unreadBase
  let n = base
  for (const m of conv.messages) if (m.seq > from && countsAsUnread(m, me)) n++
  return Math.min(n, UNREAD_CAP)
}

/** Conversations newest first (by last activity), then those without messages. */
export function sortedConversations(state: ChatState): ConversationState[] {
  return Object.values(state.conversations).sort((a, b) => {
    const ta = activityTs(a)
    const tb = activityTs(b)
    if (ta !== tb) return ta < tb ? 1 : -1
    return a.id < b.id ? -1 : 1
  })
}

/** Messages to show: content and system messages (not stream entries), without those hidden for me. */
export function visibleMessages(conv: ConversationState): ChatMessage[] {
  return conv.messages.filter((m) => !ENTRY_KINDS.has(m.kind) && !m.hidden)
}

/** The last message worth a preview in the conversation list. */
export function lastVisible(conv: ConversationState): ChatMessage | undefined {
  const visible = visibleMessages(conv)
  return visible[visible.length - 1]
}

export type DeliveryMark = 'pending' | 'failed' | 'sent' | 'delivered' | 'read'

/** How far one of my messages got: read/delivered by every other member whose receipts we saw. */
export function deliveryMark(conv: ConversationState, seq: number, me: string): DeliveryMark {
  const others = conv.members.filter((u) => u !== me)
  const marks = others.length > 0 ? others.map((u) => conv.receipts[u]) : Object.entries(conv.receipts).filter(([u]) => u !== me).map(([, w]) => w)
  if (marks.length === 0 || marks.some((w) => w === undefined)) return 'sent'
  if (marks.every((w) => w!.read >= seq)) return 'read'
  if (marks.every((w) => w!.delivered >= seq)) return 'delivered'
  return 'sent'
}

/** Users typing now (their `true` not yet expired). */
export function typingUsers(conv: ConversationState, now: number): string[] {
  return Object.entries(conv.typing)
    .filter(([, until]) => until > now)
    .map(([user]) => user)
}

/** The other member of a direct conversation. */
export function peerOf(conv: ConversationState, me: string): string | undefined {
  if (conv.kind !== 'direct') return undefined
  return conv.members.find((u) => u !== me) ?? (conv.members.length === 1 ? me : undefined)
}

/** The seq sync should continue after, and whether anything is known to be missing. */
export function needsSync(conv: ConversationState): boolean {
  if (conv.status !== 'member') return false
  return conv.lastSeq > conv.cursor || conv.messages.some((m) => m.seq > conv.cursor)
}

// ---- helpers ----

function countsAsUnread(m: ChatMessage, me: string): boolean {
  return m.sender !== me && CONTENT_KINDS.has(m.kind) && !m.deleted && !m.hidden
}

function activityTs(conv: ConversationState): string {
  const last = conv.messages[conv.messages.length - 1]
  const a = conv.lastTs ?? ''
  const b = last?.ts ?? ''
  return a > b ? a : b
}

function withConversation(state: ChatState, conv: ConversationState): ChatState {
  return {...state, conversations: {...state.conversations, [conv.id]: conv}}
}

function applyInbox(state: ChatState, entries: InboxEntry[]): ChatState {
  const conversations = {...state.conversations}
  for (const e of entries) {
    const known = conversations[e.conversation]
    const conv = known ?? {...emptyConversation(e.conversation), cursor: Math.max(0, e.lastSeq - FIRST_SYNC_WINDOW)}
    conversations[e.conversation] = {
      ...conv,
      kind: e.kind,
      name: e.name ?? conv.name,
      members: e.members ?? conv.members,
      memberCount: e.memberCount,
      status: e.status,
      muted: e.muted,
      lastSeq: Math.max(conv.lastSeq, e.lastSeq),
      lastTs: e.lastTs ?? conv.lastTs,
      readSeq: Math.max(conv.readSeq, e.readSeq),
      deliveredSeq: Math.max(conv.deliveredSeq, e.deliveredSeq),
      // The inbox's count covers what it saw; messages after it are counted from what we hold.
      unreadBase: e.unread,
      unreadBaseSeq: e.lastSeq,
      // A former member's history ends where its membership did: nothing more to sync.
      cursor: e.status === 'member' ? conv.cursor : Math.max(conv.cursor, e.lastSeq),
    }
  }
  return {...state, conversations}
}

function applyMessages(state: ChatState, id: string, incoming: IncomingMessage[]): ChatState {
  if (incoming.length === 0) return state
  const conv = state.conversations[id] ?? emptyConversation(id)
  const bySeq = new Map(conv.messages.map((m) => [m.seq, m]))
  let outbox = state.outbox
  let {lastSeq, lastTs, readSeq, deliveredSeq, members, name, kind} = conv
  const sorted = [...incoming].sort((a, b) => a.seq - b.seq)
  let changed = !state.conversations[id]
  for (const m of sorted) {
    // Dedup by (conversation, seq): what is held (or was, below the cursor) is never applied twice.
    if (m.seq <= conv.cursor || bySeq.has(m.seq)) continue
    changed = true
    const message: ChatMessage = {...m, version: m.version ?? 1, reactions: {}}
    bySeq.set(m.seq, message)
    if (m.seq > lastSeq) {
      lastSeq = m.seq
      lastTs = m.ts
    }
    if (m.sender === state.me.userId) {
      // My own message (from another device, or the sync of one I sent): it is read and delivered.
      readSeq = Math.max(readSeq, m.seq)
      deliveredSeq = Math.max(deliveredSeq, m.seq)
      outbox = outbox.filter((p) => !(p.conversation === id && p.clientMsgId === m.clientMsgId))
    }
    if (ENTRY_KINDS.has(m.kind)) applyEntry(bySeq, message)
    if (m.kind === 'system') ({members, name, kind} = applySystem(message, {members, name, kind}))
  }
  if (!changed) return state
  let cursor = conv.cursor
  while (bySeq.has(cursor + 1)) cursor++
  let messages = [...bySeq.values()].sort((a, b) => a.seq - b.seq)
  if (messages.length > KEEP_MESSAGES) {
    const drop = messages.length - KEEP_MESSAGES
    messages = messages.filter((m, i) => i >= drop || m.seq > cursor)
  }
  const next: ConversationState = {...conv, kind, name, members, memberCount: Math.max(conv.memberCount, members.length), lastSeq, lastTs, readSeq, deliveredSeq, cursor, messages}
  return {...withConversation(state, next), outbox}
}

/** Applies a reaction, edit or delete entry to the message it targets, when that message is held. */
function applyEntry(bySeq: Map<number, ChatMessage>, entry: ChatMessage): void {
  const body = entry.body as {target?: number; emoji?: string; op?: string; body?: unknown; version?: number; redacted?: boolean} | null
  if (!body || typeof body.target !== 'number') return
  const target = bySeq.get(body.target)
  if (!target || target.deleted) return
  if (entry.kind === 'reaction' && body.emoji) {
    const users = new Set(target.reactions[body.emoji] ?? [])
    if (body.op === 'remove') users.delete(entry.sender)
    else users.add(entry.sender)
    const reactions = {...target.reactions}
    if (users.size === 0) delete reactions[body.emoji]
    else reactions[body.emoji] = [...users]
    bySeq.set(target.seq, {...target, reactions})
  } else if (entry.kind === 'edit' && !body.redacted && (body.version ?? 0) > target.version) {
    const text = typeof body.body === 'string' ? body.body : textOf(body.body)
    bySeq.set(target.seq, {...target, body: body.body, text, version: body.version!, edited: true})
  } else if (entry.kind === 'delete') {
    bySeq.set(target.seq, {...target, deleted: true, body: null, text: undefined, reactions: {}})
  }
}

/** Group system messages keep the member list and name current between inbox reads. */
function applySystem(m: ChatMessage, g: {members: string[]; name?: string; kind: ConversationState['kind']}) {
  const body = m.body as {action?: string; actor?: string; members?: string[]; name?: string} | null
  if (!body?.action) return g
  let members = g.members
  let name = g.name
  switch (body.action) {
    case 'group.created':
      members = body.members ?? members
      name = body.name ?? name
      break
    case 'group.updated':
      name = body.name ?? name
      break
    case 'members.added':
      members = [...new Set([...members, ...(body.members ?? [])])]
      break
    case 'members.removed':
      members = members.filter((u) => !(body.members ?? []).includes(u))
      break
    case 'member.left':
    case 'member.banned':
      members = members.filter((u) => u !== (body.action === 'member.banned' ? (body as {member?: string}).member : body.actor))
      break
    case 'member.joined':
      if (body.actor) members = [...new Set([...members, body.actor])]
      break
  }
  return {members, name, kind: 'group' as const}
}

function applyReceipt(state: ChatState, e: Omit<ReceiptEvent, 'ev'>): ChatState {
  const conv = state.conversations[e.conversation]
  if (!conv) return state
  if (e.user === state.me.userId) {
    // My other device moved my watermark.
    if (e.type === 'read') return reduce(state, {type: 'read', conversation: conv.id, seq: e.seq})
    return withConversation(state, {...conv, deliveredSeq: Math.max(conv.deliveredSeq, e.seq)})
  }
  const w = conv.receipts[e.user] ?? {delivered: 0, read: 0}
  const next = e.type === 'read' ? {delivered: Math.max(w.delivered, e.seq), read: Math.max(w.read, e.seq)} : {...w, delivered: Math.max(w.delivered, e.seq)}
  if (next.delivered === w.delivered && next.read === w.read) return state
  return withConversation(state, {...conv, receipts: {...conv.receipts, [e.user]: next}})
}

function expireTyping(state: ChatState, now: number): ChatState {
  let conversations: ChatState['conversations'] | undefined
  for (const conv of Object.values(state.conversations)) {
    const expired = Object.entries(conv.typing).filter(([, until]) => until <= now)
    if (expired.length === 0) continue
    const typing = {...conv.typing}
    for (const [user] of expired) delete typing[user]
    conversations ??= {...state.conversations}
    conversations[conv.id] = {...conv, typing}
  }
  return conversations ? {...state, conversations} : state
}

/** A user or conversation id as the screens show it: its first 8 characters. */
export function shortId(id: string): string {
  return id.slice(0, 8)
}

/** Display text of a decoded body: a string, or an object's text/caption. */
export function textOf(body: unknown): string | undefined {
  if (typeof body === 'string') return body
  if (body && typeof body === 'object') {
    const b = body as {text?: unknown; caption?: unknown}
    if (typeof b.text === 'string') return b.text
    if (typeof b.caption === 'string') return b.caption
  }
  return undefined
}
