import {randomUUID} from 'node:crypto'
import {EventEmitter} from 'node:events'

import {MsgrClient, type OpInput, RequestError} from '../client/client.js'
import type {MessageView, OpName, ResultOf, ServerEvent} from '../protocol/frames.js'
import {refresh} from './auth.js'
import {type Decoded, type MessageCodec, PlainCodec, type Request} from './codec.js'
import {type CommandHost, runCommand} from './commands.js'
import type {ChatCommand} from './input.js'
import {type ChatAction, type ChatState, type ConversationState, type IncomingMessage, initialState, peerOf, reduce, shortId, sortedConversations} from './model.js'
import {type ProfileStore, restore} from './store.js'
import type {StoredAuth} from './store.js'

// The chat's connection manager: one live connection at a time, catch-up after every (re)connect (inbox
// from the saved token, then sync of every conversation from its cursor), live events into the model,
// an outbox retried with the same clientMsgId until acknowledged, reconnects with backoff, and `reconnect`
// events (gateway drain) followed to their target after their jitter.

/** What the screens need from a session (tests render the screens against a fake of this). */
export interface ChatSessionApi {
  getState(): ChatState
  subscribe(listener: () => void): () => void
  select(conversation: string | undefined): void
  /** Runs a parsed compose line; resolves with a line to show the user (or nothing). */
  execute(command: ChatCommand): Promise<string | undefined>
  /** The user typed in the compose line of the open conversation. */
  typing(active: boolean): void
  close(): Promise<void>
}

export interface SessionOptions {
  auth: StoredAuth
  store?: ProfileStore
  /** Builds the codec (plain by default). */
  codec?: (ctx: CodecContext) => MessageCodec | Promise<MessageCodec>
  e2e?: boolean
  /** Called when tokens rotate (to save them). */
  onAuth?: (auth: StoredAuth) => void
  backoff?: {minMs: number; maxMs: number}
  requestTimeoutMs?: number
  /** Open the newest conversation when none is open (the screen does; headless sessions by default not). */
  autoSelect?: boolean
  now?: () => number
}

/** What a codec gets from the session: requests and events over whichever connection is live. */
export interface CodecContext {
  request: Request
  /** Every server event of the live connection, across reconnects. */
  events: EventEmitter<{event: [ServerEvent]}>
  auth: StoredAuth
}

const RETRYABLE = new Set(['timeout', 'unavailable', 'internal', 'rate_limited'])
const SYNC_PAGE = 200
/** How often the connection is checked with a `ping` op, and how long the answer may take. */
const LIVENESS_MS = 30_000
const PING_TIMEOUT_MS = 10_000

export class ChatSession implements ChatSessionApi {
  private state: ChatState
  private readonly listeners = new Set<() => void>()
  private readonly events = new EventEmitter<{event: [ServerEvent]}>()
  private client: MsgrClient | undefined
  private codec!: MessageCodec
  private auth: StoredAuth
  private closed = false
  private reconnecting: Promise<void> | undefined
  private decoding: Promise<unknown> = Promise.resolve()
  private readonly syncing = new Map<string, Promise<void>>()
  private readonly syncAgain = new Set<string>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly deliveredTimers = new Map<string, NodeJS.Timeout>()
  private pumping = false
  private onFirstRefusal: (() => void) | undefined
  private persistTimer: NodeJS.Timeout | undefined
  private inboxTimer: NodeJS.Timeout | undefined
  private typingSentAt = 0
  private typingIn: string | undefined
  private readonly ticker: NodeJS.Timeout
  private readonly liveness: NodeJS.Timeout
  private readonly now: () => number
  /** What the slash commands (commands.ts) may use. */
  private readonly host: CommandHost = {
    state: () => this.state,
    codec: () => this.codec,
    request: (op, args) => this.request(op, args),
    dispatch: (action) => this.dispatch(action),
    select: (id) => this.select(id),
    queueSend: (conv, text, replyTo) => this.queueSend(conv, text, replyTo),
    refreshInbox: () => this.refreshInbox(),
    refreshPresence: (users) => this.refreshPresence(users),
    now: () => this.now(),
  }
  /** Where the next reconnect goes: the --url, or the gateway a `reconnect` event named. */
  private currentUrl: string

  constructor(private readonly options: SessionOptions) {
    this.auth = options.auth
    this.now = options.now ?? Date.now
    this.currentUrl = options.auth.url
    const me = {userId: options.auth.userId, deviceId: options.auth.deviceId, phone: options.auth.phone}
    this.state = restore(initialState(me, options.e2e ?? false), options.store?.readState())
    this.ticker = setInterval(() => {
      if (Object.values(this.state.conversations).some((c) => Object.keys(c.typing).length > 0)) this.dispatch({type: 'tick', now: this.now()})
    }, 1000)
    this.ticker.unref()
    // A socket that died without a close (network gone) shows only as silence: ask, and drop it when no answer comes.
    this.liveness = setInterval(() => void this.checkAlive(), LIVENESS_MS)
    this.liveness.unref()
  }

  /**
   * Connects and catches up; resolves once the first catch-up is done, or once the first attempt was
   * refused in a way worth retrying (a draining gateway, say: it goes on trying in the background, and
   * the screen says so). Rejects when the server cannot be reached at all or the login is dead.
   */
  async start(): Promise<void> {
    this.codec = await (this.options.codec ?? ((ctx) => new PlainCodec(ctx.request)))({request: this.request, events: this.events, auth: this.auth})
    await new Promise<void>((resolve, reject) => {
      this.onFirstRefusal = resolve
      this.reconnect(undefined, 0, true).then(resolve, reject)
    })
    this.onFirstRefusal = undefined
  }

  get me(): {userId: string; deviceId: string} {
    return this.state.me
  }

  getState = (): ChatState => this.state

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Sends an op on the current connection. */
  request: Request = <O extends OpName>(op: O, args?: OpInput<O>): Promise<ResultOf<O>> => {
    const client = this.client
    if (!client) return Promise.reject(new RequestError({code: 'unavailable', message: 'not connected (reconnecting…); try again in a moment'}))
    return client.request(op, args)
  }

  select(conversation: string | undefined): void {
    if (this.typingIn && this.typingIn !== conversation) this.typing(false)
    this.dispatch({type: 'select', conversation})
    if (conversation) {
      this.markRead(conversation)
      void this.syncConversation(conversation).catch(() => {})
    }
  }

  typing(active: boolean): void {
    const conv = this.state.selected
    if (!conv || !this.client) return
    const now = this.now()
    if (active) {
      if (this.typingIn === conv && now - this.typingSentAt < 3000) return
      this.typingIn = conv
      this.typingSentAt = now
      void this.request('typing', {conversation: conv, state: true}).catch(() => {})
    } else if (this.typingIn) {
      const was = this.typingIn
      this.typingIn = undefined
      this.typingSentAt = 0
      void this.request('typing', {conversation: was, state: false}).catch(() => {})
    }
  }

  execute(command: ChatCommand): Promise<string | undefined> {
    return runCommand(this.host, command)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.typing(false)
    this.closed = true
    clearInterval(this.ticker)
    clearInterval(this.liveness)
    for (const t of this.timers) clearTimeout(t)
    for (const t of this.deliveredTimers.values()) clearTimeout(t)
    clearTimeout(this.inboxTimer)
    const client = this.client
    this.client = undefined
    await client?.close().catch(() => {})
    await this.decoding.catch(() => {})
    this.codec?.close?.()
    this.flush()
  }

  /** Writes the state file now (it is otherwise written a moment after each change). */
  flush(): void {
    clearTimeout(this.persistTimer)
    this.persistTimer = undefined
    try {
      this.options.store?.writeState(this.state)
    } catch (error) {
      // A full disk must not take the chat down; it says so and tries again on the next change.
      if (!this.closed) this.dispatch({type: 'notice', text: `cannot save the state: ${(error as Error).message}`, error: true})
    }
  }

  // ---- connection ----

  /** Opens a connection (to `url`, or the current one, then the --url), retrying with backoff until it works. */
  private reconnect(url: string | undefined, delayMs: number, first = false): Promise<void> {
    if (this.reconnecting) return this.reconnecting
    const {minMs, maxMs} = this.options.backoff ?? {minMs: 250, maxMs: 15_000}
    const run = async () => {
      if (delayMs > 0) await this.sleep(delayMs)
      for (let attempt = 0; !this.closed; attempt++) {
        // Alternate between where we were sent and the --url (a load balancer): a target may be gone.
        const target = url && attempt % 2 === 0 ? url : attempt % 2 === 0 ? this.currentUrl : this.options.auth.url
        try {
          const client = await this.connect(target)
          if (this.closed) {
            await client.close()
            return
          }
          const old = this.client
          this.attach(client, target)
          if (old && old !== client) void old.close().catch(() => {})
          await this.catchUp()
          return
        } catch (error) {
          if (error instanceof FatalAuthError) {
            this.dispatch({type: 'connection', status: 'offline', error: error.message})
            throw error
          }
          if (first && attempt === 0 && !(error instanceof RequestError)) {
            // A wrong --url fails the start at once instead of retrying forever.
            this.dispatch({type: 'connection', status: 'offline', error: (error as Error).message})
            throw error
          }
          const wait = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() / 2)
          this.dispatch({type: 'connection', status: 'reconnecting', error: `${(error as Error).message}; retrying in ${Math.round(wait / 100) / 10}s`})
          this.onFirstRefusal?.()
          await this.sleep(wait)
        }
      }
    }
    this.reconnecting = run().finally(() => {
      this.reconnecting = undefined
    })
    return this.reconnecting
  }

  private async connect(url: string): Promise<MsgrClient> {
    this.dispatch({type: 'connection', status: this.state.connection.status === 'online' ? 'reconnecting' : this.state.connection.status, url})
    if (this.auth.accessExpiresAt - this.now() < 30_000) await this.rotate()
    let client: MsgrClient
    try {
      client = await MsgrClient.connect(url, this.auth.accessToken, {requestTimeoutMs: this.options.requestTimeoutMs ?? 20_000})
    } catch (error) {
      if (!(error instanceof RequestError) || error.code !== 'unauthenticated') throw error
      await this.rotate()
      client = await MsgrClient.connect(url, this.auth.accessToken, {requestTimeoutMs: this.options.requestTimeoutMs ?? 20_000})
    }
    try {
      const hello = await client.waitForEvent((e) => e.ev === 'hello', 10_000)
      this.dispatch({type: 'connection', status: 'online', node: hello.ev === 'hello' ? hello.node : undefined, url})
    } catch (error) {
      await client.close().catch(() => {})
      throw error
    }
    return client
  }

  private async checkAlive(): Promise<void> {
    const client = this.client
    if (!client || this.closed) return
    const answered = await Promise.race([client.request('ping', {}).then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), PING_TIMEOUT_MS).unref())])
    // terminate() closes at once with 1006; the close handler reconnects.
    if (!answered && this.client === client) client.ws.terminate()
  }

  /** Refreshes the tokens, saving them at once (the old refresh token is dead). A refused refresh token is fatal. */
  private async rotate(): Promise<void> {
    try {
      this.auth = await refresh(this.auth)
    } catch (error) {
      if (!(error instanceof RequestError) || error.code !== 'invalid_refresh_token') throw error
      // A new login is a new device (new keys, no history), so it is the user's call: msgr chat does it at start.
      throw new FatalAuthError('the session was revoked or expired: run msgr chat again to log in')
    }
    this.options.onAuth?.(this.auth)
  }

  private attach(client: MsgrClient, url: string): void {
    this.client = client
    this.currentUrl = url
    client.on('event', (event) => this.onEvent(client, event))
    client.on('close', (code) => {
      if (this.client !== client || this.closed) return
      this.client = undefined
      this.dispatch({type: 'connection', status: 'reconnecting', error: `connection closed (${code})`})
      // 1012 follows a drain: go at once; anything else backs off a little.
      void this.reconnect(undefined, code === 1012 || code === 1001 ? 0 : 250).catch(() => {})
    })
  }

  /** inbox from the saved token, then every conversation synced from its cursor, then the outbox. */
  private async catchUp(): Promise<void> {
    if (this.codec.onConnect) {
      await this.codec.onConnect().catch((error: Error) => this.dispatch({type: 'notice', text: `end-to-end encryption not ready: ${error.message}`, error: true}))
    }
    let inbox: ResultOf<'inbox'>
    try {
      inbox = await this.request('inbox', this.state.inboxToken ? {after: this.state.inboxToken} : {})
    } catch (error) {
      // A token from another server (or a reset one) is refused: start over without it.
      if (!(error instanceof RequestError) || error.code !== 'invalid_request') throw error
      inbox = await this.request('inbox', {})
    }
    this.dispatch({type: 'inbox', entries: inbox.conversations})
    const ids = Object.values(this.state.conversations)
      .filter((c) => c.status === 'member')
      .map((c) => c.id)
    await Promise.all(ids.map((id) => this.syncConversation(id)))
    // Saved only now: the conversations it returned are processed.
    this.dispatch({type: 'inbox-token', token: inbox.token})
    this.autoSelect()
    if (this.state.selected) this.markRead(this.state.selected)
    for (const id of ids) this.scheduleDelivered(id)
    const peers = Object.values(this.state.conversations)
      .map((c) => peerOf(c, this.state.me.userId))
      .filter((u): u is string => u !== undefined && u !== this.state.me.userId)
    void this.refreshPresence(peers)
    void this.pump()
  }

  // ---- events and sync ----

  private onEvent(client: MsgrClient, event: ServerEvent): void {
    if (client !== this.client && event.ev !== 'reconnect') return
    this.events.emit('event', event)
    switch (event.ev) {
      case 'message': {
        const {ev: _ev, ...message} = event
        void this.ingest(message.conversation, [message]).then(() => {
          const conv = this.state.conversations[message.conversation]
          if (!conv || conv.kind === 'unknown' || (message.kind === 'system' && conv.kind === 'group')) this.scheduleInbox()
          if (this.autoSelect()) this.markRead(message.conversation)
          if (conv && conv.cursor < conv.lastSeq) this.scheduleGapSync(message.conversation)
        })
        return
      }
      case 'receipt':
        this.dispatch({type: 'receipt', event})
        return
      case 'typing':
        this.dispatch({type: 'typing', event, now: this.now()})
        return
      case 'presence': {
        const {ev: _ev, ...view} = event
        this.dispatch({type: 'presence', views: [view]})
        return
      }
      case 'hidden':
        this.dispatch({type: 'hidden', conversation: event.conversation, seqs: event.seqs})
        return
      case 'group.request':
        this.dispatch({type: 'notice', text: `${shortId(event.user)} asks to join ${this.state.conversations[event.conversation]?.name ?? 'a group'}`})
        return
      case 'reconnect':
        this.follow(event.url, event.after ?? 0)
        return
      case 'error':
        this.dispatch({type: 'notice', text: `server: ${event.error.code}: ${event.error.message}`, error: true})
        return
      case 'hello':
        return
    }
  }

  /** A draining gateway named where to go and when: connect there after the jitter, then drop the old one. */
  private follow(url: string | undefined, afterMs: number): void {
    const target = url ? httpBase(url) : undefined
    this.dispatch({type: 'notice', text: `server asked to reconnect${target ? ` to ${target}` : ''}`})
    void this.reconnect(target, Math.min(Math.max(0, afterMs), 30_000)).catch(() => {})
  }

  /** Decodes (in order, one at a time: decryption is stateful) and applies messages not yet held. */
  private ingest(conversation: string, messages: MessageView[]): Promise<void> {
    const work = this.decoding.then(async () => {
      const out: IncomingMessage[] = []
      for (const m of messages) {
        const conv = this.state.conversations[conversation]
        if (conv && (m.seq <= conv.cursor || conv.messages.some((h) => h.seq === m.seq))) continue
        if (out.some((o) => o.seq === m.seq)) continue
        const decoded: Decoded = await this.codec.decode(m).catch((e: Error) => ({body: m.body, undecryptable: e.message, encrypted: true}))
        out.push({...m, ...decoded, replyTo: decoded.replyTo ?? m.replyTo})
      }
      this.dispatch({type: 'messages', conversation, messages: out})
      const conv = this.state.conversations[conversation]
      if (out.some((m) => m.sender !== this.state.me.userId)) {
        this.scheduleDelivered(conversation)
        if (this.state.selected === conversation) this.markRead(conversation)
      }
      return conv
    })
    this.decoding = work.catch(() => {})
    return work.then(() => {})
  }

  /** Pages through `sync` from the conversation's cursor until nothing more; one at a time per conversation. */
  syncConversation(id: string): Promise<void> {
    const running = this.syncing.get(id)
    if (running) {
      this.syncAgain.add(id)
      return running
    }
    const run = (async () => {
      do {
        this.syncAgain.delete(id)
        for (;;) {
          const conv = this.state.conversations[id]
          if (conv && conv.status !== 'member') break
          const after = conv?.cursor ?? 0
          const page = await this.request('sync', {conversation: id, after, limit: SYNC_PAGE})
          await this.ingest(id, page.messages)
          const moved = (this.state.conversations[id]?.cursor ?? 0) > after
          if (!page.hasMore || !moved) break
        }
      } while (this.syncAgain.has(id) && !this.closed)
    })().finally(() => this.syncing.delete(id))
    this.syncing.set(id, run)
    return run
  }

  private scheduleGapSync(id: string): void {
    // Events in flight usually fill the gap within a moment; sync only if they do not.
    this.later(400, () => {
      const conv = this.state.conversations[id]
      if (conv && conv.cursor < conv.lastSeq) void this.syncConversation(id).catch(() => {})
    })
  }

  private scheduleInbox(): void {
    if (this.inboxTimer) return
    this.inboxTimer = setTimeout(() => {
      this.inboxTimer = undefined
      void this.refreshInbox().catch(() => {})
    }, 100)
  }

  private async refreshInbox(): Promise<void> {
    const inbox = await this.request('inbox', this.state.inboxToken ? {after: this.state.inboxToken} : {})
    this.dispatch({type: 'inbox', entries: inbox.conversations})
    await Promise.all(inbox.conversations.filter((c) => c.status === 'member').map((c) => this.syncConversation(c.conversation)))
    this.dispatch({type: 'inbox-token', token: inbox.token})
    const peers = inbox.conversations.flatMap((c) => (c.kind === 'direct' ? (c.members ?? []) : [])).filter((u) => u !== this.state.me.userId)
    void this.refreshPresence(peers)
  }

  private async refreshPresence(users: string[]): Promise<void> {
    const unique = [...new Set(users)].slice(0, 200)
    if (unique.length === 0) return
    try {
      const r = await this.request('presence.get', {users: unique})
      this.dispatch({type: 'presence', views: r.presence})
    } catch {
      // presence is a nicety
    }
  }

  private markRead(id: string): void {
    const conv = this.state.conversations[id]
    if (!conv || conv.status !== 'member' || !this.client) return
    const top = conv.messages.length > 0 ? conv.messages[conv.messages.length - 1]!.seq : 0
    if (top <= conv.readSeq) return
    this.dispatch({type: 'read', conversation: id, seq: top})
    void this.request('receipt', {conversation: id, type: 'read', seq: top}).catch(() => {})
  }

  private scheduleDelivered(id: string): void {
    if (this.deliveredTimers.has(id)) return
    const timer = setTimeout(() => {
      this.deliveredTimers.delete(id)
      const conv = this.state.conversations[id]
      if (!conv || conv.status !== 'member' || conv.cursor <= conv.deliveredSeq || !this.client) return
      const seq = conv.cursor
      void this.request('receipt', {conversation: id, type: 'delivered', seq})
        .then(() => this.dispatch({type: 'receipt', event: {conversation: id, user: this.state.me.userId, device: this.state.me.deviceId, type: 'delivered', seq}}))
        .catch(() => {})
    }, 250)
    this.deliveredTimers.set(id, timer)
  }

  // ---- sending ----

  private queueSend(conv: ConversationState, text: string, replyTo?: number): void {
    this.typing(false)
    const pending = {conversation: conv.id, clientMsgId: `c-${randomUUID()}`, text, ...(replyTo ? {replyTo} : {})}
    this.dispatch({type: 'queued', pending})
    void this.pump()
  }

  /** Sends the outbox in order; unknown outcomes are retried with the same clientMsgId (the server dedups). */
  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      let failures = 0
      while (!this.closed && this.client) {
        const next = this.state.outbox.find((p) => !p.failed)
        if (!next) break
        const client = this.client
        // Whether to encrypt depends on the kind and members: learn them before sending anything.
        if (this.state.conversations[next.conversation]?.kind === 'unknown') await this.refreshInbox().catch(() => {})
        const conv = this.state.conversations[next.conversation]
        if (!conv) {
          this.dispatch({type: 'send-failed', clientMsgId: next.clientMsgId, error: 'unknown conversation'})
          continue
        }
        try {
          const r = await this.codec.send(conv, {text: next.text, replyTo: next.replyTo}, next.clientMsgId)
          failures = 0
          this.dispatch({type: 'sent', conversation: conv.id, clientMsgId: next.clientMsgId, seq: r.seq, messageId: r.messageId, ts: r.ts})
          const after = this.state.conversations[conv.id]
          if (after && after.cursor < after.lastSeq) this.scheduleGapSync(conv.id)
        } catch (error) {
          const code = error instanceof RequestError ? error.code : 'internal'
          if (!RETRYABLE.has(code)) {
            this.dispatch({type: 'send-failed', clientMsgId: next.clientMsgId, error: (error as Error).message})
            this.dispatch({type: 'notice', text: `not sent: ${(error as Error).message}`, error: true})
            continue
          }
          // The connection went: the next catch-up sends it again. Otherwise back off and retry here.
          if (this.client !== client) break
          failures++
          const retryAfter = (error as RequestError).error?.details?.retryAfterMs
          await this.sleep(typeof retryAfter === 'number' ? retryAfter : Math.min(5000, 200 * 2 ** Math.min(failures, 5)))
        }
      }
    } finally {
      this.pumping = false
      // A catch-up on a new connection may have asked while this loop was winding down on the old one.
      if (!this.closed && this.client && this.state.outbox.some((p) => !p.failed)) this.later(100, () => void this.pump())
    }
  }

  // ---- helpers ----

  /** With autoSelect, opens the newest conversation when none is open; true when it did. */
  private autoSelect(): boolean {
    if (!this.options.autoSelect || this.state.selected) return false
    const first = sortedConversations(this.state)[0]
    if (!first) return false
    this.dispatch({type: 'select', conversation: first.id})
    return true
  }

  private dispatch(action: ChatAction): void {
    const next = reduce(this.state, action)
    if (next === this.state) return
    this.state = next
    if (this.options.store && !this.closed && !this.persistTimer && action.type !== 'tick' && action.type !== 'typing' && action.type !== 'notice') {
      this.persistTimer = setTimeout(() => this.flush(), 300)
    }
    for (const listener of this.listeners) listener()
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (!this.closed) fn()
    }, ms)
    this.timers.add(t)
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve))
  }
}

export class FatalAuthError extends Error {
  override name = 'FatalAuthError'
}

function httpBase(url: string): string {
  const u = new URL(url)
  return `${u.protocol.replace(/^ws/, 'http')}//${u.host}`
}
