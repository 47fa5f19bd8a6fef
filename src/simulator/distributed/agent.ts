import {hostname} from 'node:os'

import {connect, type Msg, type NatsConnection, type Subscription} from '@nats-io/transport-node'

import {runSlice as engineRunSlice, type SliceHooks} from '../engine.js'
import type {Progress, SliceResult, SliceSpec} from '../types.js'
import {sendResult} from './chunks.js'
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

// `msgr sim agent`: waits on NATS for a controller's run, takes one slice of its virtual clients, runs it
// with the engine in this process, streams progress and sends the result back. Between runs it waits for
// the next one (or exits, with `once`).

export interface AgentOptions {
  natsUrl: string
  /** Subject token naming this agent (default: host and pid). */
  agentId?: string
  /** Join only this run (agents the controller spawns itself). */
  runId?: string
  /** Exit after one run instead of waiting for the next. */
  once?: boolean
  /** Source addresses to use when the controller hands out none. */
  localAddresses?: string[]
  /** With `once`: give up when no run has assigned a slice within this long (default 120 s). */
  idleTimeoutMs?: number
  /** Progress (and heartbeat) interval, default 1000 ms. */
  progressIntervalMs?: number
  signal?: AbortSignal
  log?: (line: string) => void
  /** The slice runner (default: the engine's runSlice). */
  runSlice?: (spec: SliceSpec, hooks: SliceHooks) => Promise<SliceResult>
}

/** How long a registered (long-lived) agent waits for its slice before it goes back to waiting for runs. */
const ASSIGNMENT_WAIT_MS = 10 * 60_000

export interface AgentSummary {
  agentId: string
  /** Runs this agent took part in (and finished, successfully or not). */
  runs: Array<{runId: string; users: number; ok: boolean; error?: string}>
}

export async function runAgent(options: AgentOptions): Promise<AgentSummary> {
  const agentId = options.agentId ?? defaultAgentId()
  if (!TOKEN_PATTERN.test(agentId)) throw new Error(`agent id "${agentId}": letters, digits, "-" and "_" only (at most 64)`)
  if (options.runId !== undefined && !TOKEN_PATTERN.test(options.runId)) throw new Error(`run id "${options.runId}": letters, digits, "-" and "_" only`)
  const log = options.log ?? (() => {})
  const me: Registration = {agentId, host: hostname(), pid: process.pid, localAddresses: options.localAddresses ?? []}
  const nc = await connect({servers: options.natsUrl, name: `msgr-sim-agent-${agentId}`, maxReconnectAttempts: -1, reconnectTimeWait: 500}).catch((error: unknown) => {
    throw new Error(`cannot reach NATS at ${options.natsUrl}: ${(error as Error).message}`, {cause: error})
  })
  const summary: AgentSummary = {agentId, runs: []}
  log(`${describeAgent(me)} waiting for a run on ${options.natsUrl}`)
  try {
    while (!options.signal?.aborted) {
      const run = await nextRun(nc, me, options)
      if (!run) break
      log(`joined run ${run.runId}`)
      const outcome = await serveRun(nc, me, run, options, log)
      summary.runs.push(outcome)
      log(outcome.ok ? `run ${run.runId} done (${outcome.users} users)` : `run ${run.runId} failed: ${outcome.error}`)
      if (options.once) break
    }
  } finally {
    await nc.drain().catch(() => nc.close())
  }
  return summary
}

interface JoinedRun {
  runId: string
  /** The agent's command subject, subscribed before registering so the controller can reach it at once. */
  commands: Subscription
}

/** Waits for an announced run this agent may join and registers; undefined when stopped or idle too long. */
async function nextRun(nc: NatsConnection, me: Registration, options: AgentOptions): Promise<JoinedRun | undefined> {
  const announces = nc.subscribe(subjects.announce)
  const idle = options.once ? setTimeout(() => announces.unsubscribe(), options.idleTimeoutMs ?? 120_000) : undefined
  const onAbort = () => announces.unsubscribe()
  options.signal?.addEventListener('abort', onAbort)
  try {
    for await (const msg of announces) {
      const announce = parse<Announce>(msg)
      if (!announce || !TOKEN_PATTERN.test(announce.runId)) continue
      if (options.runId !== undefined && announce.runId !== options.runId) continue
      const commands = nc.subscribe(subjects.agent(announce.runId, me.agentId))
      try {
        const reply = (await nc.request(subjects.register(announce.runId), encode(me), {timeout: 5000})).json<RegistrationReply>()
        if (reply.accepted) return {runId: announce.runId, commands}
      } catch {
        // The controller filled its places or went away: wait for the next announce.
      }
      commands.unsubscribe()
    }
    return undefined
  } finally {
    clearTimeout(idle)
    options.signal?.removeEventListener('abort', onAbort)
    announces.unsubscribe()
  }
}

async function serveRun(nc: NatsConnection, me: Registration, run: JoinedRun, options: AgentOptions, log: (line: string) => void): Promise<AgentSummary['runs'][number]> {
  const {runId, commands} = run
  const stop = new AbortController()
  const abortSub = nc.subscribe(subjects.abort(runId), {callback: () => stop.abort()})
  const onOuterAbort = () => stop.abort()
  options.signal?.addEventListener('abort', onOuterAbort)
  let latest: Progress | undefined
  let heartbeat: NodeJS.Timeout | undefined
  try {
    // The controller assigns once all its agents have registered, which can take minutes with external agents.
    const spec = await waitForAssignment(commands, stop, options.once ? (options.idleTimeoutMs ?? 120_000) : ASSIGNMENT_WAIT_MS)
    if (!spec) return {runId, users: 0, ok: false, error: 'no slice assigned (the run was aborted or the controller went away)'}
    const report = () => nc.publish(subjects.progress(runId), encode({agentId: me.agentId, progress: latest} satisfies ProgressReport))
    report()
    heartbeat = setInterval(report, options.progressIntervalMs ?? 1000)
    log(`slice: users ${spec.users.from}..${spec.users.from + spec.users.count - 1} via ${spec.target.via} ${spec.target.url}${spec.localAddresses?.length ? ` from ${spec.localAddresses.join(',')}` : ''}`)
    try {
      const runner = options.runSlice ?? engineRunSlice
      const result = await runner(spec, {signal: stop.signal, onProgress: (p) => (latest = p)})
      clearInterval(heartbeat)
      await sendResult(nc, runId, me.agentId, JSON.stringify(result), 30_000)
      return {runId, users: spec.users.count, ok: true}
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      nc.publish(subjects.failed(runId), encode({agentId: me.agentId, message} satisfies FailureReport))
      await nc.flush().catch(() => {})
      return {runId, users: spec.users.count, ok: false, error: message}
    }
  } finally {
    clearInterval(heartbeat)
    options.signal?.removeEventListener('abort', onOuterAbort)
    abortSub.unsubscribe()
    commands.unsubscribe()
  }
}

/** The first `assign` on the command subject; later commands (abort) go to `stop`. */
function waitForAssignment(commands: Subscription, stop: AbortController, timeoutMs: number): Promise<SliceSpec | undefined> {
  return new Promise((resolve) => {
    let assigned = false
    const timer = setTimeout(() => finish(undefined), timeoutMs)
    const finish = (spec: SliceSpec | undefined) => {
      clearTimeout(timer)
      stop.signal.removeEventListener('abort', onStop)
      resolve(spec)
    }
    const onStop = () => finish(undefined)
    stop.signal.addEventListener('abort', onStop)
    void (async () => {
      for await (const msg of commands) {
        const command = parse<AgentCommand>(msg)
        if (command?.type === 'abort') {
          respond(msg, {ok: true})
          stop.abort()
        } else if (command?.type === 'assign' && !assigned) {
          assigned = true
          respond(msg, {ok: true})
          finish(command.spec)
        } else {
          respond(msg, {ok: false, error: assigned ? 'this agent already runs a slice' : 'unknown command'})
        }
      }
    })()
  })
}

function respond(msg: Msg, reply: AgentReply): void {
  msg.respond(encode(reply))
}

function parse<T>(msg: Msg): T | undefined {
  try {
    return msg.json<T>()
  } catch {
    return undefined
  }
}

function defaultAgentId(): string {
  return `${hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)}-${process.pid}`
}
