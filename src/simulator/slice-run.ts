import {randomBytes} from 'node:crypto'
import {performance} from 'node:perf_hooks'

import {MsgrClient, RequestError, type TokenPair} from '../client/client.js'
import {mulberry32} from '../core/random.js'
import type {ServerEvent} from '../protocol/frames.js'
import {AuditBook} from './audit.js'
import type {SliceHooks} from './engine.js'
import {encodeHistogram} from './histograms.js'
import {closeRoutingSockets, createTokenSource, gatewayUrl, type TokenSource} from './login.js'
import {Recorder} from './recorder.js'
import {readServerSample, type ServerSample} from './server-metrics.js'
import {arrivalsBetween, churnProbability, nextThresholdStep, phaseTimes, phoneFor, pickConversation, planPopulation, type Population, rateAt, sliceRate} from './traffic.js'
import type {Phase, Progress, ResourceFigures, SliceResult, SliceSpec} from './types.js'

// One slice of virtual clients, in this process: real sockets, the scenario's traffic, the loss audit.

const RETRYABLE = new Set(['timeout', 'unavailable', 'internal', 'rate_limited'])
const RATE_LIMITED_ONLY = new Set(['rate_limited'])
const REQUEST_TIMEOUT_MS = 30_000
const GAP_FILL_DELAY_MS = 500
const LATE_EVENT_GRACE_MS = 1000
const TICK_MS = 10
/** Connections being set up at once (login excluded): keeps a ramp-up of thousands from stampeding. */
const MAX_HANDSHAKES = 64

interface User {
  index: number
  phone: string
  id?: string
  devices: number[]
  /** The last media this user uploaded (reused by later media messages). */
  media?: string
  ownsCreated: boolean
}

interface Device {
  index: number
  user: number
  tokens?: TokenPair
  tokensAt: number
  client?: MsgrClient
  httpUrl?: string
  state: 'idle' | 'connecting' | 'connected' | 'offline'
  helloAt?: number
  onHello?: () => void
  churned: boolean
  refreshNeeded: boolean
  sends: number
  localAddress?: string
  /** Its own port on localAddress (SliceSpec.localPorts); dropped for the kernel's choice if it is ever refused. */
  localPort?: number
  everConnected: boolean
}

export async function runSliceInProcess(spec: SliceSpec, hooks: SliceHooks): Promise<SliceResult> {
  return new SliceRun(spec, hooks).run()
}

class SliceRun {
  private readonly rng: () => number
  private readonly population: Population
  private readonly users: User[]
  private readonly devices: Device[] = []
  private readonly book: AuditBook
  private readonly rec = new Recorder()
  private readonly convIds: (string | undefined)[]
  private readonly convIndex = new Map<string, number>()
  private readonly syncing = new Set<string>()
  private readonly nonce = randomBytes(4).toString('hex')
  private readonly t0 = performance.now()
  private readonly cpu0 = process.cpuUsage()
  private readonly startedAt = Date.now()
  private phase: Phase = 'login'
  private loggedIn = 0
  private finalSyncDone = 0
  private finalSyncTotal = 0
  private connections = 0
  private connectionsPeak = 0
  private rssPeak = 0
  private heapPeak = 0
  private inFlight = 0
  private handshakes = 0
  private readonly handshakeQueue: Array<() => void> = []
  private stopping = false
  private steadyMs = 0
  private tokens?: TokenSource
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor(
    private readonly spec: SliceSpec,
    private readonly hooks: SliceHooks,
  ) {
    this.rng = mulberry32((spec.seed ^ Math.imul(spec.users.from + 1, 0x9e3779b1)) >>> 0)
    this.population = planPopulation(spec.scenario, spec.users.count, this.rng)
    this.users = Array.from({length: spec.users.count}, (_, i) => ({index: i, phone: phoneFor(spec.runId, spec.users.from + i), devices: [], ownsCreated: false}))
    const addresses = spec.localAddresses ?? []
    this.users.forEach((user) => {
      for (let k = 0; k < this.population.devices[user.index]!; k++) {
        const index = this.devices.length
        user.devices.push(index)
        this.devices.push({
          index,
          user: user.index,
          tokensAt: 0,
          state: 'idle',
          churned: false,
          refreshNeeded: false,
          sends: 0,
          everConnected: false,
          ...(addresses.length ? {localAddress: addresses[index % addresses.length]} : {}),
          ...(addresses.length && spec.localPorts ? ownPort(index, addresses.length) : {}),
        })
      }
    })
    this.book = new AuditBook(this.devices.length)
    for (const conv of this.population.conversations) this.book.addConversation(conv.members.flatMap((m) => this.users[m]!.devices))
    this.convIds = new Array(this.population.conversations.length)
  }

  async run(): Promise<SliceResult> {
    const ticker = setInterval(() => this.everySecond(), 1000)
    let serverBefore: ServerSample | undefined
    let serverAfter: ServerSample | undefined
    let ackedBefore = 0
    try {
      this.tokens = await createTokenSource(this.spec)
      await this.loginAll()
      serverBefore = await readServerSample(this.spec.target.url)
      ackedBefore = this.rec.counters.acked
      await this.traffic()
      this.phase = 'settle'
      await this.settle()
      serverAfter = await readServerSample(this.spec.target.url)
      const liveSince = this.devices.map((d) => (d.state === 'connected' ? d.helloAt : undefined))
      this.phase = 'final-sync'
      const unreachable = await this.finalSync()
      // A live event still on its way when the final sync fetched the same message counts as live: give stragglers a moment.
      await sleep(LATE_EVENT_GRACE_MS)
      this.stopping = true
      await pool(this.devices, 64, async (d) => {
        await d.client?.close().catch(() => {})
      })
      const audit = this.book.finish((d) => liveSince[d], (d) => unreachable.has(d))
      this.phase = 'done'
      const result = this.result(audit, serverBefore, serverAfter, this.rec.counters.acked - ackedBefore)
      this.hooks.onProgress?.(this.progress())
      return result
    } finally {
      this.stopping = true
      clearInterval(ticker)
      for (const t of this.timers) clearTimeout(t)
      for (const d of this.devices) d.client?.ws.terminate()
      await this.tokens?.close()
      closeRoutingSockets()
    }
  }

  private async loginAll(): Promise<void> {
    await pool(this.users, this.spec.scenario.login.concurrency, async (user) => {
      for (const [k, d] of user.devices.entries()) {
        const device = this.devices[d]!
        device.tokens = await this.withRetries('login', () => this.tokens!.login(user.phone, {name: `sim-${k}`, platform: 'sim'})).catch((error: Error) => {
          const how = this.spec.auth ? 'issuing tokens in the database' : `logging in through ${this.spec.target.url} (is it up and started with --dev? or pass --database-url and --jwt-secret)`
          throw new Error(`${how}: ${error.message}`)
        })
        device.tokensAt = Date.now()
        user.id = device.tokens.userId
        this.loggedIn++
      }
    })
  }

  private async traffic(): Promise<void> {
    const scenario = this.spec.scenario
    const times = phaseTimes(scenario)
    const rate = sliceRate(scenario, this.spec.users.count)
    const start = performance.now()
    this.phase = 'ramp-up'
    // Devices connect evenly over the ramp-up (first devices of users first, so conversations form early).
    const order = [...this.devices].sort((a, b) => this.users[a.user]!.devices.indexOf(a.index) - this.users[b.user]!.devices.indexOf(b.index))
    order.forEach((d, i) => this.later((times.rampUpMs * i) / order.length, () => void this.connect(d)))
    let arrived = 0
    let threshold = nextThresholdStep(scenario.rate.arrival, this.rng)
    let last = 0
    let churnAt = 1000
    await new Promise<void>((resolve) => {
      const loop = setInterval(() => {
        const elapsed = performance.now() - start
        this.phase = elapsed < times.rampUpMs ? 'ramp-up' : elapsed < times.rampUpMs + times.steadyMs ? 'steady' : 'ramp-down'
        if (this.phase === 'steady') this.steadyMs = Math.min(times.steadyMs, elapsed - times.rampUpMs)
        if (elapsed >= times.totalMs || this.hooks.signal?.aborted) {
          clearInterval(loop)
          resolve()
          return
        }
        arrived += arrivalsBetween(times, rate, last, elapsed)
        last = elapsed
        while (arrived >= threshold) {
          threshold += nextThresholdStep(scenario.rate.arrival, this.rng)
          this.arrive()
        }
        if (elapsed >= churnAt) {
          churnAt += 1000
          this.churn()
        }
      }, TICK_MS)
    })
  }

  private arrive(): void {
    const scenario = this.spec.scenario
    if (scenario.rate.arrival === 'closed' && this.inFlight >= scenario.rate.maxInFlight) {
      this.rec.counters.skipped++
      return
    }
    const conv = pickConversation(this.population, scenario, this.rng)
    if (conv === undefined || this.convIds[conv] === undefined) {
      this.rec.counters.skipped++
      return
    }
    const members = this.population.conversations[conv]!.members
    for (let attempt = 0; attempt < 3; attempt++) {
      const user = this.users[members[Math.floor(this.rng() * members.length)]!]!
      const connected = user.devices.filter((d) => this.devices[d]!.state === 'connected')
      if (connected.length === 0) continue
      void this.send(this.devices[connected[Math.floor(this.rng() * connected.length)]!]!, conv)
      return
    }
    this.rec.counters.skipped++
  }

  private async send(device: Device, conv: number): Promise<void> {
    const scenario = this.spec.scenario
    const conversation = this.convIds[conv]!
    const clientMsgId = `${this.nonce}.${this.spec.users.from}.${device.index}.${device.sends++}`
    this.inFlight++
    try {
      let kind = 'text'
      let body: unknown = filler(clientMsgId, scenario.message.bytes)
      if (this.rng() < scenario.media.share) {
        const media = await this.mediaFor(device)
        if (media) {
          kind = 'file'
          body = {media, name: 'sim.txt', caption: clientMsgId}
          this.rec.counters.mediaMessages++
        }
      }
      const typing = this.rng() < scenario.typing.share
      if (typing) this.fireAndForget(device, 'typing', {conversation, state: true}, () => this.rec.counters.typingSent++)
      const sentAt = performance.now()
      this.book.sending(conv, clientMsgId, sentAt)
      this.rec.sent()
      for (let attempt = 1; ; attempt++) {
        const client = await this.clientOf(device)
        if (!client) {
          this.rec.counters.sendErrors++
          return
        }
        try {
          const args = {conversation, clientMsgId, kind, body}
          this.rec.counters.bytesSent += 80 + JSON.stringify(body).length
          const result = await client.request('send', args)
          this.rec.acked(performance.now() - sentAt)
          this.book.acked(conv, clientMsgId, result.seq, result.messageId, device.index)
          break
        } catch (error) {
          const code = codeOf(error)
          this.rec.error(code)
          if (!RETRYABLE.has(code) || attempt >= 6) {
            this.rec.counters.sendErrors++
            return
          }
          await sleep(retryDelay(error, attempt))
        }
      }
      if (typing) this.fireAndForget(device, 'typing', {conversation, state: false}, () => this.rec.counters.typingSent++)
    } finally {
      this.inFlight--
    }
  }

  private async mediaFor(device: Device): Promise<string | undefined> {
    const user = this.users[device.user]!
    if (user.media && this.rng() >= this.spec.scenario.media.freshShare) return user.media
    const header = `msgr sim ${this.spec.runId} ${this.nonce} ${device.index} ${device.sends}\n`
    const bytes = Buffer.alloc(Math.max(header.length, this.spec.scenario.media.bytes), 'x')
    bytes.write(header)
    try {
      const res = await fetch(new URL('/v1/media', device.httpUrl ?? this.spec.target.url), {
        method: 'POST',
        headers: {authorization: `Bearer ${device.tokens!.accessToken}`, 'content-type': 'text/plain'},
        body: bytes,
      })
      const answer = (await res.json().catch(() => ({}))) as {id?: string; error?: {code: string}}
      if (!res.ok || !answer.id) {
        this.rec.error(answer.error?.code ?? `http_${res.status}`)
        return user.media
      }
      this.rec.counters.mediaUploads++
      this.rec.counters.bytesSent += bytes.length
      user.media = answer.id
      return answer.id
    } catch {
      this.rec.error('unavailable')
      return user.media
    }
  }

  private async connect(device: Device, final = false): Promise<boolean> {
    if (device.state === 'connecting' || device.state === 'connected') return true
    if (this.stopping && !final) return false
    device.state = 'connecting'
    const user = this.users[device.user]!
    // At most MAX_HANDSHAKES at once; the others wait their turn in order (no polling): a finished one hands its slot on.
    if (this.handshakes >= MAX_HANDSHAKES) await new Promise<void>((resolve) => this.handshakeQueue.push(resolve))
    else this.handshakes++
    // The run reached its final sync while this one waited its turn: not needed any more (the final sync connects whom it needs).
    if ((this.stopping || this.phase === 'final-sync') && !final) {
      this.endHandshake()
      device.state = 'offline'
      return false
    }
    let handshaking = true
    const started = performance.now()
    try {
      if (device.refreshNeeded || Date.now() - device.tokensAt > (device.tokens!.expiresIn - 60) * 1000) {
        device.tokens = await this.tokens!.refresh(device.tokens!.refreshToken)
        device.tokensAt = Date.now()
        device.refreshNeeded = false
      }
      const url = await gatewayUrl(this.spec, user.id!)
      device.httpUrl = url
      const client = await MsgrClient.connect(url, device.tokens!.accessToken, {
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        handshakeTimeoutMs: REQUEST_TIMEOUT_MS,
        ...(device.localAddress ? {localAddress: device.localAddress, localPort: device.localPort} : {}),
      })
      device.client = client
      const hello = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new RequestError({code: 'timeout', message: 'no hello'})), REQUEST_TIMEOUT_MS)
        device.onHello = () => {
          clearTimeout(timer)
          resolve()
        }
        client.once('close', () => {
          clearTimeout(timer)
          reject(new RequestError({code: 'unavailable', message: 'closed before hello'}))
        })
      })
      client.ws.on('message', (data: Buffer) => (this.rec.counters.bytesReceived += data.length))
      client.on('event', (event) => this.onEvent(device, client, event))
      client.on('close', (code) => this.onClose(device, client, code))
      for (const event of client.events.splice(0)) this.onEvent(device, client, event)
      await hello
      this.endHandshake()
      handshaking = false
      device.helloAt = performance.now()
      device.state = 'connected'
      this.rec.connected(device.helloAt - started)
      if (device.everConnected) this.rec.counters.reconnects++
      device.everConnected = true
      this.connections++
      this.connectionsPeak = Math.max(this.connectionsPeak, this.connections)
      if (!user.ownsCreated && user.devices[0] === device.index) {
        user.ownsCreated = true
        void this.createOwned(device)
      }
      await this.catchUp(device)
      return true
    } catch (error) {
      if (handshaking) this.endHandshake()
      // Its port is taken (a server listening on it, or the same connection in TIME_WAIT): let the kernel choose from now on.
      const errno = (error as NodeJS.ErrnoException).code
      if (errno === 'EADDRINUSE' || errno === 'EADDRNOTAVAIL') device.localPort = undefined
      this.rec.error(codeOf(error))
      this.rec.counters.connectErrors++
      if (device.client) device.client.ws.terminate()
      device.client = undefined
      device.state = 'offline'
      if (!this.stopping && !final) this.later(500 + this.rng() * 1500, () => void this.connect(device))
      return false
    }
  }

  private endHandshake(): void {
    const next = this.handshakeQueue.shift()
    if (next) next()
    else this.handshakes--
  }

  private onEvent(device: Device, client: MsgrClient, event: ServerEvent): void {
    client.events.length = 0 // the client keeps every event otherwise; the simulator needs none of them later
    if (device.client !== client) return
    switch (event.ev) {
      case 'hello':
        device.onHello?.()
        device.onHello = undefined
        return
      case 'message': {
        this.rec.counters.deliveredEvents++
        const conv = this.convIndex.get(event.conversation)
        if (conv === undefined) return
        const latency = this.book.received(device.index, conv, event, 'live', performance.now())
        if (latency !== undefined) this.rec.delivered(latency)
        // A seq beyond the next one: something was missed; fill the gap with sync, as a real client does.
        if (event.seq > this.book.syncFrom(device.index, conv) + 1) this.later(GAP_FILL_DELAY_MS, () => void this.syncConv(device, conv))
        const user = this.users[device.user]!
        if (event.sender !== user.id && event.kind !== 'system' && this.rng() < this.spec.scenario.receipts.readShare) {
          this.fireAndForget(device, 'receipt', {conversation: event.conversation, type: 'read', seq: event.seq}, () => this.rec.counters.receiptsSent++)
        }
        return
      }
      case 'typing':
        this.rec.counters.typingReceived++
        return
      case 'receipt':
        this.rec.counters.receiptsReceived++
        return
      case 'reconnect':
        // The server is moving us (drain): leave now; onClose reconnects.
        this.later(Math.min(event.after ?? 0, 5000), () => void client.close())
        return
      case 'error':
        this.rec.error(event.error.code)
        return
      default:
        return
    }
  }

  private onClose(device: Device, client: MsgrClient, code: number): void {
    if (device.client !== client) return
    const wasConnected = device.state === 'connected'
    device.client = undefined
    if (wasConnected) this.connections--
    device.state = 'offline'
    device.helloAt = undefined
    this.rec.counters.disconnects++
    this.book.disconnected(device.index)
    if (code === 4401) device.refreshNeeded = true
    // A close during the handshake is handled (and retried) by connect().
    if (this.stopping || !wasConnected) return
    const churned = device.churned
    device.churned = false
    const delay = churned ? this.spec.scenario.churn.offline * 1000 : 250 + this.rng() * 1750
    this.later(delay, () => void this.connect(device))
  }

  private churn(): void {
    const p = churnProbability(this.spec.scenario, 1000)
    if (p <= 0) return
    for (const device of this.devices) {
      if (device.state !== 'connected' || this.rng() >= p) continue
      device.churned = true
      void device.client?.close()
    }
  }

  /** The first device of a user creates the conversations the user owns (members[0]). */
  private async createOwned(device: Device): Promise<void> {
    const plan = this.population.conversations
    for (const c of this.population.conversationsOf[device.user]!) {
      const conv = plan[c]!
      if (conv.members[0] !== device.user) continue
      const others = conv.members.slice(1).map((m) => this.users[m]!.id!)
      try {
        // conv.direct is idempotent; group.create is not (a retry after a timeout may make a second group).
        const conversation = await this.withRetries(
          'create',
          async () => {
            const client = await this.clientOf(device)
            if (!client) throw new RequestError({code: 'unavailable', message: 'not connected'})
            if (conv.kind === 'direct') return (await client.request('conv.direct', {with: others[0]})).conversation
            return (await client.request('group.create', {name: `sim ${this.spec.runId} ${c}`, members: others})).conversation
          },
          conv.kind === 'direct' ? RETRYABLE : RATE_LIMITED_ONLY,
        )
        this.convIds[c] = conversation
        this.convIndex.set(conversation, c)
        if (conv.kind === 'direct') this.rec.counters.directConversations++
        else this.rec.counters.groupsCreated++
      } catch {
        // counted in errorsByCode; its messages are simply never sent
      }
    }
  }

  /** What a real client does after connecting: `inbox`, then `sync` of every conversation it is behind in. True when all of it worked. */
  private async catchUp(device: Device): Promise<boolean> {
    const client = device.client
    if (!client || device.state !== 'connected') return false
    let conversations: {conversation: string; lastSeq: number}[]
    try {
      this.rec.counters.syncRequests++
      conversations = (await client.request('inbox', {})).conversations
    } catch (error) {
      this.rec.error(codeOf(error))
      return false
    }
    let ok = true
    for (const entry of conversations) {
      const conv = this.convIndex.get(entry.conversation)
      if (conv !== undefined && entry.lastSeq > this.book.syncFrom(device.index, conv)) ok = (await this.syncConv(device, conv)) && ok
    }
    return ok
  }

  /** Reads a conversation from where this device's contiguous history ends, page by page. */
  private async syncConv(device: Device, conv: number): Promise<boolean> {
    const key = `${device.index}:${conv}`
    if (this.syncing.has(key) || device.state !== 'connected') return false
    this.syncing.add(key)
    try {
      let after = this.book.syncFrom(device.index, conv)
      for (let page = 0; page < 10_000; page++) {
        const client = device.client
        if (!client) return false
        this.rec.counters.syncRequests++
        const result = await client.request('sync', {conversation: this.convIds[conv], after, limit: 500})
        const now = performance.now()
        for (const m of result.messages) this.book.received(device.index, conv, m, 'sync', now)
        if (!result.hasMore || result.messages.length === 0) return true
        after = result.messages.at(-1)!.seq
      }
      return true
    } catch (error) {
      this.rec.error(codeOf(error))
      return false
    } finally {
      this.syncing.delete(key)
    }
  }

  private async settle(): Promise<void> {
    const deadline = performance.now() + this.spec.scenario.phases.settle * 1000
    while (performance.now() < deadline) {
      const waitingDevices = this.devices.some((d) => d.state === 'connecting' || (d.state === 'offline' && !this.stopping))
      if (this.inFlight === 0 && this.book.pending <= 0 && !waitingDevices) return
      await sleep(100)
    }
  }

  /**
   * Checks every device that is behind somewhere (see AuditBook.behind): connects it if it is not, and
   * syncs just those conversations. A device that got everything live needs no request at all, so the
   * final sync of a large run costs what was actually missed, not a reconnect and an inbox per device.
   * Answers the devices it could not check.
   */
  private async finalSync(): Promise<Set<number>> {
    const unreachable = new Set<number>()
    const behind = this.devices.filter((d) => this.book.behind(d.index).length > 0)
    this.finalSyncTotal = behind.length
    await pool(behind, 32, async (device) => {
      if (!(await this.finalSyncOf(device))) unreachable.add(device.index)
      this.finalSyncDone++
    })
    return unreachable
  }

  private async finalSyncOf(device: Device): Promise<boolean> {
    for (let attempt = 0, waited = 0; device.state !== 'connected' && attempt < 3 && waited < 2 * REQUEST_TIMEOUT_MS; ) {
      if (device.state === 'connecting') {
        await sleep(100)
        waited += 100
      } else if (!(await this.connect(device, true))) await sleep(500 * ++attempt)
    }
    if (device.state !== 'connected') return false
    // Let gap fills still running finish first (a conversation is synced by one request at a time).
    const mine = (key: string) => key.startsWith(`${device.index}:`)
    while ([...this.syncing].some(mine)) await sleep(50)
    for (let attempt = 1; attempt <= 3; attempt++) {
      let ok = true
      for (const conv of this.book.behind(device.index)) ok = (await this.syncConv(device, conv)) && ok
      // Read to the end of every conversation it was behind in: what is still absent is missing.
      if (ok) return true
      await sleep(500 * attempt)
    }
    return false
  }

  private fireAndForget(device: Device, op: 'typing' | 'receipt', args: Record<string, unknown>, counted: () => void): void {
    const client = device.client
    if (!client) return
    counted()
    client.request(op, args).catch((error: unknown) => this.rec.error(codeOf(error)))
  }

  /** The device's open client, waiting up to 30 s for a reconnect. */
  private async clientOf(device: Device): Promise<MsgrClient | undefined> {
    for (let waited = 0; waited < REQUEST_TIMEOUT_MS; waited += 100) {
      if (device.state === 'connected' && device.client) return device.client
      if (this.stopping && this.phase === 'done') return undefined
      await sleep(100)
    }
    return undefined
  }

  private async withRetries<T>(what: string, fn: () => Promise<T>, retryable: ReadonlySet<string> = RETRYABLE): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn()
      } catch (error) {
        const code = codeOf(error)
        this.rec.error(code)
        if (!retryable.has(code) || attempt >= 5) {
          const cause = (error as {cause?: {message?: string}}).cause?.message
          throw new Error(`${what}: ${(error as Error).message}${cause ? ` (${cause})` : ''}`)
        }
        await sleep(retryDelay(error, attempt))
      }
    }
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      fn()
    }, ms)
    this.timers.add(timer)
  }

  private everySecond(): void {
    const memory = process.memoryUsage()
    this.rssPeak = Math.max(this.rssPeak, memory.rss)
    this.heapPeak = Math.max(this.heapPeak, memory.heapUsed)
    const last = this.rec.tick(this.connections)
    this.hooks.onProgress?.(this.progress(last))
  }

  private progress(last: Partial<Pick<Progress, 'ackRate' | 'deliveryP50Ms' | 'deliveryP99Ms' | 'ackP99Ms'>> = {}): Progress {
    const c = this.rec.counters
    return {
      runId: this.spec.runId,
      phase: this.phase,
      elapsedMs: Math.round(performance.now() - this.t0),
      users: this.users.length,
      devices: this.devices.length,
      loggedIn: this.loggedIn,
      connections: this.connections,
      sent: c.sent,
      acked: c.acked,
      deliveredEvents: c.deliveredEvents,
      errors: Object.values(this.rec.errorsByCode).reduce((a, b) => a + b, 0),
      ackRate: last.ackRate ?? 0,
      ...(last.deliveryP50Ms !== undefined ? {deliveryP50Ms: last.deliveryP50Ms} : {}),
      ...(last.deliveryP99Ms !== undefined ? {deliveryP99Ms: last.deliveryP99Ms} : {}),
      ...(last.ackP99Ms !== undefined ? {ackP99Ms: last.ackP99Ms} : {}),
      pending: Math.max(0, this.book.pending),
      ...(this.phase === 'final-sync' || this.phase === 'done' ? {finalSync: {done: this.finalSyncDone, total: this.finalSyncTotal}} : {}),
      audit: this.book.sofar(),
    }
  }

  private result(audit: SliceResult['audit'], before: ServerSample | undefined, after: ServerSample | undefined, ackedBetween: number): SliceResult {
    this.rec.tick(this.connections)
    const cpu = process.cpuUsage(this.cpu0)
    const endedAt = Date.now()
    const resources: ResourceFigures = {
      client: {
        rssBytesPeak: this.rssPeak,
        heapUsedBytesPeak: this.heapPeak,
        cpuUserMs: Math.round(cpu.user / 1000),
        cpuSystemMs: Math.round(cpu.system / 1000),
        connectionsPeak: this.connectionsPeak,
      },
    }
    if (after) {
      const server: NonNullable<ResourceFigures['server']> = {}
      if (after.rssBytes !== undefined) server.rssBytes = after.rssBytes
      if (before?.cpuSeconds !== undefined && after.cpuSeconds !== undefined) {
        server.cpuSeconds = Math.round((after.cpuSeconds - before.cpuSeconds) * 1000) / 1000
        if (ackedBetween > 0) server.cpuMsPerMessage = Math.round(((after.cpuSeconds - before.cpuSeconds) * 1e6) / ackedBetween) / 1000
      }
      if (after.rssBytes !== undefined && before?.rssBytes !== undefined && after.connections) {
        server.rssBytesPerConnection = Math.round(Math.max(0, after.rssBytes - before.rssBytes) / after.connections)
      }
      resources.server = server
    }
    return {
      version: 1,
      runId: this.spec.runId,
      scenario: this.spec.scenario.name,
      slices: 1,
      users: this.users.length,
      devices: this.devices.length,
      startedAt: new Date(this.startedAt).toISOString(),
      endedAt: new Date(endedAt).toISOString(),
      durationMs: endedAt - this.startedAt,
      steadyMs: Math.round(this.steadyMs),
      histograms: {delivery: encodeHistogram(this.rec.delivery), ack: encodeHistogram(this.rec.ack), connect: encodeHistogram(this.rec.connect)},
      counters: {...this.rec.counters},
      errorsByCode: {...this.rec.errorsByCode},
      audit,
      timeline: this.rec.timeline,
      resources,
    }
  }
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker))
}

function codeOf(error: unknown): string {
  if (error instanceof RequestError) return error.code
  const code = (error as {code?: unknown})?.code
  if (typeof code === 'string' && /^[a-z_]+$/.test(code)) return code
  if (typeof code === 'string') return code.toLowerCase()
  return 'unavailable'
}

function retryDelay(error: unknown, attempt: number): number {
  const after = error instanceof RequestError ? Number((error.error.details as {retryAfterMs?: number} | undefined)?.retryAfterMs) : NaN
  const base = Number.isFinite(after) ? after : 100 * 2 ** attempt
  return Math.min(10_000, base) * (1 + Math.random() * 0.2)
}

/** A text body of about `bytes` bytes, unique (it carries the clientMsgId: no duplicate-content refusals). */
function filler(clientMsgId: string, bytes: number): string {
  const text = `${clientMsgId} `
  return text.length >= bytes ? text : text + 'lorem ipsum dolor sit amet '.repeat(Math.ceil(bytes / 27)).slice(0, bytes - text.length)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

const FIRST_OWN_PORT = 10_000

/** Device `index`'s port on its address: devices sharing an address (every `addresses`-th) count up from FIRST_OWN_PORT. */
function ownPort(index: number, addresses: number): {localPort?: number} {
  const port = FIRST_OWN_PORT + Math.floor(index / addresses)
  return port <= 65_535 ? {localPort: port} : {}
}
