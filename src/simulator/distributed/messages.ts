import type {Progress, SliceSpec} from '../types.js'

// What the controller and its agents say to each other over core NATS, all under `msgr.sim.`: the
// controller announces a run, idle agents register, each gets one slice, streams progress and sends its
// result back in chunks (a result can be larger than the server's max_payload).

export const SUBJECT_ROOT = 'msgr.sim'

export const subjects = {
  /** Controller → every idle agent, repeated until enough have registered. */
  announce: `${SUBJECT_ROOT}.announce`,
  /** Agent → controller (request): I take part. */
  register: (runId: string) => `${SUBJECT_ROOT}.${runId}.register`,
  /** Controller → one agent (request): your slice, or abort. */
  agent: (runId: string, agentId: string) => `${SUBJECT_ROOT}.${runId}.agent.${agentId}`,
  /** Agent → controller: a progress snapshot (also the agent's heartbeat). */
  progress: (runId: string) => `${SUBJECT_ROOT}.${runId}.progress`,
  /** Agent → controller (request per chunk): `<prefix>.<agentId>.<index>.<total>`, raw UTF-8 bytes of the result JSON. */
  result: (runId: string, agentId: string, index: number, total: number) => `${SUBJECT_ROOT}.${runId}.result.${agentId}.${index}.${total}`,
  resultAll: (runId: string) => `${SUBJECT_ROOT}.${runId}.result.>`,
  /** Agent → controller: the slice failed. */
  failed: (runId: string) => `${SUBJECT_ROOT}.${runId}.failed`,
  /** Controller → all agents of the run: stop now. */
  abort: (runId: string) => `${SUBJECT_ROOT}.${runId}.abort`,
}

/** Run ids and agent ids become subject tokens: letters, digits, `-` and `_` only. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/

export interface Announce {
  runId: string
  agents: number
}

export interface Registration {
  agentId: string
  host: string
  pid: number
  /** The agent's own --local-addresses, used when the controller has none to hand out. */
  localAddresses: string[]
}

export interface RegistrationReply {
  accepted: boolean
  /** Position of the agent in the run (0-based) when accepted. */
  index?: number
  reason?: string
}

export type AgentCommand = {type: 'assign'; spec: SliceSpec} | {type: 'abort'; reason: string}

export interface AgentReply {
  ok: boolean
  error?: string
}

export interface ProgressReport {
  agentId: string
  /** Undefined until the slice reports its first snapshot. */
  progress?: Progress
}

export interface FailureReport {
  agentId: string
  message: string
}

export function encode(value: unknown): string {
  return JSON.stringify(value)
}

/** A readable description of an agent for error messages. */
export function describeAgent(r: Pick<Registration, 'agentId' | 'host' | 'pid'>): string {
  return `agent ${r.agentId} (${r.host}, pid ${r.pid})`
}
