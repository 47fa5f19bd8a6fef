import {connect, type Msg, type NatsConnection, type Subscription} from '@nats-io/transport-node'

import {mergeResults} from '../engine.js'
import type {Progress, SliceResult, SliceSpec} from '../types.js'
import {ResultAssembler} from './chunks.js'
import {
  type AgentCommand,
  type AgentReply,
  type Announce,
  describeAgent,
  encode,
  type FailureReport,
  type ProgressReport,
  type Registration,
  type RegistrationReply,
  subjects,
  TOKEN_PATTERN,
} from './messages.js'
import {type SpawnedAgent, spawnAgent} from './spawn.js'
import {addressesFor, mergeProgress, sharesAreDisjoint, splitUsers} from './split.js'

// The controller behind `msgr sim run --agents N`: announces the run on NATS, takes N agents (spawned
// here, or started elsewhere with `msgr sim agent`), gives each a contiguous range of users (a slice owns
// every conversation among its users, so each agent's loss audit is complete), aggregates their progress
// and merges their results exactly (histograms add).

export interface DistributedOptions {
  spec: Omit<SliceSpec, 'users' | 'localAddresses'> & {users: number}
  agents: number
  natsUrl: string
  /** Start the N agents as child processes (`msgr sim agent --once`) and stop them at the end. */
  spawn: boolean
  /** Source addresses handed out among the agents; empty: each agent uses its own --local-addresses. */
  localAddresses: string[]
  onProgress?(progress: Progress): void
  /** Each agent's own result as it arrives (before the merge), with the agent's id and user range. */
  onSliceResult?(slice: {agentId: string; index: number; users: {from: number; count: number}; result: SliceResult}): void
  /** Ends the traffic early on every agent; their (shorter) results are still collected and merged. */
  signal?: AbortSignal
  /** How long to wait for N agents to register (default 60 s spawned, 300 s external). */
  registerTimeoutMs?: number
  /** An agent silent (no progress, no heartbeat) this long fails the run (default 60 s). */
  agentTimeoutMs?: number
  /** Called with one line per notable event (agents registered, spawned, stopped). */
  log?(line: string): void
  /** Extra arguments for spawned agents. */
  agentArgs?: string[]
}

export async function runDistributed(options: DistributedOptions): Promise<SliceResult> {
  const {spec, agents} = options
  const runId = spec.runId
  if (!TOKEN_PATTERN.test(runId)) throw new Error(`run id "${runId}": letters, digits, "-" and "_" only (it becomes a NATS subject token)`)
  const ranges = splitUsers(spec.users, agents)
  const log = options.log ?? (() => {})
  const nc = await connect({servers: options.natsUrl, name: `msgr-sim-controller-${runId}`, maxReconnectAttempts: -1, reconnectTimeWait: 500}).catch((error: unknown) => {
    throw new Error(`cannot reach NATS at ${options.natsUrl}: ${(error as Error).message}`, {cause: error})
  })
  const run = new RunState(nc, options, ranges, log)
  try {
    return await run.execute()
  } finally {
    await run.cleanup()
    await nc.close().catch(() => {})
  }
}

interface Member extends Registration {
  index: number
  lastSeen: number
  progress?: Progress
  result?: SliceResult
}

class RunState {
  readonly #nc: NatsConnection
  readonly #options: DistributedOptions
  readonly #ranges: Array<{from: number; count: number}>
  readonly #log: (line: string) => void
  readonly #runId: string
  readonly #members = new Map<string, Member>()
  readonly #spawned = new Map<string, SpawnedAgent>()
  readonly #subs: Subscription[] = []
  readonly #timers: NodeJS.Timeout[] = []
  readonly #assembler = new ResultAssembler()
  #fail: (error: Error) => void = () => {}
  #allRegistered: () => void = () => {}
  #allResults: () => void = () => {}
  #failed = false

  constructor(nc: NatsConnection, options: DistributedOptions, ranges: Array<{from: number; count: number}>, log: (line: string) => void) {
    this.#nc = nc
    this.#options = options
    this.#ranges = ranges
    this.#log = log
    this.#runId = options.spec.runId
  }

  async execute(): Promise<SliceResult> {
    const {agents} = this.#options
    const failure = new Promise<never>((_, reject) => {
      this.#fail = (error) => {
        if (this.#failed) return
        this.#failed = true
        this.#broadcastAbort(error.message)
        reject(error)
      }
    })
    failure.catch(() => {})
    const registered = new Promise<void>((resolve) => (this.#allRegistered = resolve))
    const collected = new Promise<void>((resolve) => (this.#allResults = resolve))

    this.#listen()
    if (this.#options.spawn) this.#spawnAgents()
    this.#announce()
    const registerTimeoutMs = this.#options.registerTimeoutMs ?? (this.#options.spawn ? 60_000 : 300_000)
    const registerTimer = setTimeout(() => {
      const missing = agents - this.#members.size
      const hint = this.#options.spawn ? 'the spawned agents did not start in time (is dist/ built?)' : `start them with \`msgr sim agent --nats ${this.#options.natsUrl}\``
      this.#fail(new Error(`only ${this.#members.size} of ${agents} agents registered for run ${this.#runId} within ${registerTimeoutMs / 1000} s (${missing} missing): ${hint}`))
    }, registerTimeoutMs)
    this.#timers.push(registerTimer)
    await Promise.race([registered, failure])
    clearTimeout(registerTimer)
    this.#log(`${agents} agents registered: ${[...this.#members.values()].map((m) => m.agentId).join(', ')}`)

    await Promise.race([this.#assignAll(), failure])
    this.#watch()
    const onAbort = () => this.#broadcastAbort('the controller was interrupted')
    this.#options.signal?.addEventListener('abort', onAbort, {once: true})
    if (this.#options.signal?.aborted) onAbort()
    try {
      await Promise.race([collected, failure])
    } finally {
      this.#options.signal?.removeEventListener('abort', onAbort)
    }
    const results = [...this.#members.values()].sort((a, b) => a.index - b.index).map((m) => m.result!)
    return mergeResults(results)
  }

  async cleanup(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer)
    for (const sub of this.#subs) sub.unsubscribe()
    await this.#nc.flush().catch(() => {})
    await Promise.all([...this.#spawned.values()].map((agent) => agent.stop()))
  }

  #listen(): void {
    const nc = this.#nc
    this.#subs.push(
      nc.subscribe(subjects.register(this.#runId), {callback: (_, msg) => this.#onRegister(msg)}),
      nc.subscribe(subjects.progress(this.#runId), {callback: (_, msg) => this.#onProgress(msg)}),
      nc.subscribe(subjects.resultAll(this.#runId), {callback: (_, msg) => this.#onResultChunk(msg)}),
      nc.subscribe(subjects.failed(this.#runId), {callback: (_, msg) => this.#onFailed(msg)}),
    )
  }

  #spawnAgents(): void {
    for (let i = 0; i < this.#options.agents; i++) {
      const agentId = `${this.#runId}-a${i}`.slice(-64)
      const agent = spawnAgent({agentId, runId: this.#runId, natsUrl: this.#options.natsUrl, args: this.#options.agentArgs})
      this.#spawned.set(agentId, agent)
      void agent.exited.then((code) => {
        const member = this.#members.get(agentId)
        if (member?.result) return
        const who = member ? describeAgent(member) : `agent ${agentId} (pid ${agent.proc.pid ?? '?'})`
        this.#fail(new Error(`${who} exited with ${code} before sending its result${agent.tail() ? `:\n${agent.tail()}` : ''}`))
      })
    }
    this.#log(`spawned ${this.#options.agents} agents`)
  }

  #announce(): void {
    const announce = encode({runId: this.#runId, agents: this.#options.agents} satisfies Announce)
    const tick = () => {
      if (this.#members.size < this.#options.agents && !this.#failed) this.#nc.publish(subjects.announce, announce)
      else clearInterval(timer)
    }
    const timer = setInterval(tick, 500)
    this.#timers.push(timer)
    tick()
  }

  #onRegister(msg: Msg): void {
    const registration = parse<Registration>(msg)
    const reply = (r: RegistrationReply) => msg.respond(encode(r))
    if (!registration || !TOKEN_PATTERN.test(registration.agentId ?? '')) return void reply({accepted: false, reason: 'malformed registration'})
    const known = this.#members.get(registration.agentId)
    if (known) return void reply({accepted: true, index: known.index})
    if (this.#options.spawn && !this.#spawned.has(registration.agentId)) return void reply({accepted: false, reason: 'this run uses its own spawned agents'})
    if (this.#members.size >= this.#options.agents || this.#failed) return void reply({accepted: false, reason: 'the run has all its agents'})
    const member: Member = {
      agentId: registration.agentId,
      host: String(registration.host ?? '?'),
      pid: Number(registration.pid ?? 0),
      localAddresses: Array.isArray(registration.localAddresses) ? registration.localAddresses.map(String) : [],
      index: this.#members.size,
      lastSeen: Date.now(),
    }
    this.#members.set(member.agentId, member)
    reply({accepted: true, index: member.index})
    this.#log(`${describeAgent(member)} registered (${this.#members.size}/${this.#options.agents})`)
    if (this.#members.size === this.#options.agents) this.#allRegistered()
  }

  async #assignAll(): Promise<void> {
    const {spec, agents, localAddresses} = this.#options
    const {users: total, ...rest} = spec
    const scenario = {...spec.scenario, users: total}
    const localPorts = sharesAreDisjoint(localAddresses, agents)
    await Promise.all(
      [...this.#members.values()].map(async (member) => {
        const pool = localAddresses.length > 0 ? addressesFor(localAddresses, agents, member.index) : member.localAddresses
        const slice: SliceSpec = {...rest, scenario, users: this.#ranges[member.index]!, ...(pool.length > 0 ? {localAddresses: pool, localPorts} : {})}
        let reply: AgentReply
        try {
          reply = (await this.#nc.request(subjects.agent(this.#runId, member.agentId), encode({type: 'assign', spec: slice} satisfies AgentCommand), {timeout: 10_000})).json<AgentReply>()
        } catch (error) {
          throw new Error(`${describeAgent(member)} did not take its slice: ${(error as Error).message}`)
        }
        if (!reply.ok) throw new Error(`${describeAgent(member)} refused its slice: ${reply.error ?? 'no reason given'}`)
        member.lastSeen = Date.now()
      }),
    ).catch((error: Error) => this.#fail(error))
  }

  #watch(): void {
    const timeoutMs = this.#options.agentTimeoutMs ?? 60_000
    const timer = setInterval(() => {
      const now = Date.now()
      for (const member of this.#members.values()) {
        if (member.result) continue
        if (now - member.lastSeen > timeoutMs) {
          this.#fail(new Error(`${describeAgent(member)} sent nothing for ${Math.round((now - member.lastSeen) / 1000)} s: it stopped or lost NATS (users ${this.#ranges[member.index]!.from}..${this.#ranges[member.index]!.from + this.#ranges[member.index]!.count - 1} have no result)`))
          return
        }
      }
      const snapshots = [...this.#members.values()].map((m) => m.progress).filter((p): p is Progress => p !== undefined)
      if (snapshots.length > 0) this.#options.onProgress?.(mergeProgress(this.#runId, snapshots))
    }, 1000)
    this.#timers.push(timer)
  }

  #onProgress(msg: Msg): void {
    const report = parse<ProgressReport>(msg)
    const member = report && this.#members.get(report.agentId)
    if (!member) return
    member.lastSeen = Date.now()
    if (report.progress) member.progress = report.progress
  }

  #onResultChunk(msg: Msg): void {
    // <root>.<runId>.result.<agentId>.<index>.<total>
    const tokens = msg.subject.split('.')
    const [agentId, index, total] = tokens.slice(-3) as [string, string, string]
    const member = this.#members.get(agentId)
    msg.respond(encode({ok: true} satisfies AgentReply))
    if (!member || member.result) return
    member.lastSeen = Date.now()
    try {
      const text = this.#assembler.add(agentId, Number(index), Number(total), msg.data)
      if (text === undefined) return
      const result = JSON.parse(text) as SliceResult
      if (result.runId !== this.#runId) throw new Error(`a result for run ${result.runId}`)
      member.result = result
      this.#options.onSliceResult?.({agentId, index: member.index, users: this.#ranges[member.index]!, result})
      this.#log(`${describeAgent(member)} sent its result (${result.audit.messages} messages, ${result.devices} devices)`)
    } catch (error) {
      this.#fail(new Error(`${describeAgent(member)} sent an unreadable result: ${(error as Error).message}`))
      return
    }
    if ([...this.#members.values()].every((m) => m.result)) this.#allResults()
  }

  #onFailed(msg: Msg): void {
    const report = parse<FailureReport>(msg)
    const member = report && this.#members.get(report.agentId)
    if (!member) return
    this.#fail(new Error(`${describeAgent(member)} failed its slice (users ${this.#ranges[member.index]!.from}..${this.#ranges[member.index]!.from + this.#ranges[member.index]!.count - 1}): ${report.message}`))
  }

  #broadcastAbort(reason: string): void {
    this.#nc.publish(subjects.abort(this.#runId), encode({type: 'abort', reason} satisfies AgentCommand))
  }
}

function parse<T>(msg: Msg): T | undefined {
  try {
    return msg.json<T>()
  } catch {
    return undefined
  }
}
