import {createHash} from 'node:crypto'

import type {Scenario} from './types.js'

// The traffic model, without I/O: who has how many devices, which conversations exist among a slice's
// users, which conversation the next message goes to, and when it is sent. Deterministic for a seed.

export type Rng = () => number

export interface PlannedConversation {
  kind: 'direct' | 'group'
  /** Slice-local user indexes; members[0] creates the conversation (a group's owner). */
  members: number[]
  large: boolean
}

export interface Population {
  /** devices[u] = number of devices of slice-local user u. */
  devices: Uint8Array
  conversations: PlannedConversation[]
  /** conversationsOf[u] = indexes into conversations. */
  conversationsOf: number[][]
  directs: number[]
  smallGroups: number[]
  largeGroups: number[]
}

/** Phone number of user `index` of run `runId`: +1, four digits from the run, nine from the index. */
export function phoneFor(runId: string, index: number): string {
  const run = createHash('sha256').update(runId).digest().readUInt32BE(0) % 9000
  return `+1${1000 + run}${String(index).padStart(9, '0')}`
}

/** Plans a slice of `count` users: their devices and every conversation among them. */
export function planPopulation(scenario: Scenario, count: number, rng: Rng): Population {
  const devices = new Uint8Array(count)
  for (let u = 0; u < count; u++) devices[u] = 1 + pickWeighted(scenario.devices.weights, rng)

  const c = scenario.conversations
  const conversations: PlannedConversation[] = []
  const directs: number[] = []
  const smallGroups: number[] = []
  const largeGroups: number[] = []

  const maxPairs = (count * (count - 1)) / 2
  const directCount = Math.min(maxPairs, Math.round((count * c.contactsPerUser) / 2))
  const pairs = new Set<string>()
  for (let attempts = 0; directs.length < directCount && attempts < directCount * 20; attempts++) {
    const a = Math.floor(rng() * count)
    const b = Math.floor(rng() * count)
    if (a === b) continue
    const key = a < b ? `${a}:${b}` : `${b}:${a}`
    if (pairs.has(key)) continue
    pairs.add(key)
    directs.push(conversations.length)
    conversations.push({kind: 'direct', members: [a, b], large: false})
  }

  const groupCount = count < 3 ? 0 : Math.round((count * c.groupsPerUser) / c.groupSizeMean)
  for (let g = 0; g < groupCount; g++) {
    const {size, large} = sampleGroupSize(scenario, rng)
    const members = sampleDistinct(count, Math.min(size, count), rng)
    ;(large ? largeGroups : smallGroups).push(conversations.length)
    conversations.push({kind: 'group', members, large})
  }

  const conversationsOf: number[][] = Array.from({length: count}, () => [])
  conversations.forEach((conv, i) => conv.members.forEach((m) => conversationsOf[m]!.push(i)))
  return {devices, conversations, conversationsOf, directs, smallGroups, largeGroups}
}

/**
 * A group size: large (uniform in [largeGroupMin, largeGroupMax]) with probability largeGroupShare,
 * otherwise small, 3 or more with a geometric tail, its mean chosen so that all groups average groupSizeMean.
 */
export function sampleGroupSize(scenario: Scenario, rng: Rng): {size: number; large: boolean} {
  const c = scenario.conversations
  const largeMax = Math.max(c.largeGroupMin, c.largeGroupMax)
  if (rng() < c.largeGroupShare) return {size: c.largeGroupMin + Math.floor(rng() * (largeMax - c.largeGroupMin + 1)), large: true}
  const smallMean = smallGroupMean(scenario)
  const extra = smallMean - 3
  if (extra <= 0) return {size: 3, large: false}
  // Geometric on {0, 1, …} with mean `extra`, truncated below the large-group threshold.
  const p = 1 / (1 + extra)
  const k = Math.floor(Math.log(1 - rng()) / Math.log(1 - p))
  return {size: Math.min(c.largeGroupMin - 1, 3 + k), large: false}
}

/** Mean size of small groups that makes the mean over all groups groupSizeMean. */
export function smallGroupMean(scenario: Scenario): number {
  const c = scenario.conversations
  const largeMean = (c.largeGroupMin + Math.max(c.largeGroupMin, c.largeGroupMax)) / 2
  if (c.largeGroupShare >= 1) return 3
  return Math.max(3, (c.groupSizeMean - c.largeGroupShare * largeMean) / (1 - c.largeGroupShare))
}

/** Picks the conversation of the next message: 1:1 vs group by directShare, large groups by their message share. */
export function pickConversation(population: Population, scenario: Scenario, rng: Rng): number | undefined {
  const c = scenario.conversations
  const {directs, smallGroups, largeGroups} = population
  const groups = smallGroups.length + largeGroups.length
  let pool: number[]
  if (directs.length > 0 && (groups === 0 || rng() < c.directShare)) pool = directs
  else if (largeGroups.length > 0 && (smallGroups.length === 0 || rng() < c.largeGroupMessageShare)) pool = largeGroups
  else pool = smallGroups
  if (pool.length === 0) return undefined
  return pool[Math.floor(rng() * pool.length)]
}

export interface PhaseTimes {
  rampUpMs: number
  steadyMs: number
  rampDownMs: number
  totalMs: number
}

export function phaseTimes(scenario: Scenario): PhaseTimes {
  const rampUpMs = scenario.phases.rampUp * 1000
  const steadyMs = scenario.phases.steady * 1000
  const rampDownMs = scenario.phases.rampDown * 1000
  return {rampUpMs, steadyMs, rampDownMs, totalMs: rampUpMs + steadyMs + rampDownMs}
}

/** Target messages per second at `ms` after the start of traffic: up linearly, flat, down linearly. */
export function rateAt(times: PhaseTimes, steadyRate: number, ms: number): number {
  if (ms < 0 || ms >= times.totalMs) return 0
  if (ms < times.rampUpMs) return (steadyRate * ms) / times.rampUpMs
  if (ms < times.rampUpMs + times.steadyMs) return steadyRate
  const intoDown = ms - times.rampUpMs - times.steadyMs
  return steadyRate * (1 - intoDown / times.rampDownMs)
}

/** This slice's share of the run's rate: its users over the run's users. */
export function sliceRate(scenario: Scenario, sliceUsers: number): number {
  return (scenario.rate.messagesPerSecond * Math.min(sliceUsers, scenario.users)) / scenario.users
}

/** Expected arrivals between two instants (ms since the start of traffic): the integral of the rate. */
export function arrivalsBetween(times: PhaseTimes, steadyRate: number, fromMs: number, toMs: number): number {
  // The rate is piecewise linear; integrate each piece exactly with the trapezoid rule.
  const cuts = [fromMs, ...[times.rampUpMs, times.rampUpMs + times.steadyMs, times.totalMs].filter((c) => c > fromMs && c < toMs), toMs]
  let sum = 0
  for (let i = 1; i < cuts.length; i++) {
    const a = cuts[i - 1]!
    const b = cuts[i]!
    const end = rateAt(times, steadyRate, b - 1e-9)
    sum += ((rateAt(times, steadyRate, a) + end) / 2) * ((b - a) / 1000)
  }
  return sum
}

/**
 * Arrivals come when the integral of the rate passes a threshold; the next threshold is one more
 * (closed loop: evenly spaced) or an exponential step (open loop: a Poisson process, also while the rate changes).
 */
export function nextThresholdStep(arrival: Scenario['rate']['arrival'], rng: Rng): number {
  return arrival === 'closed' ? 1 : -Math.log(1 - rng())
}

/** Chance that a connected device drops within `dtMs` under the scenario's churn. */
export function churnProbability(scenario: Scenario, dtMs: number): number {
  const perMs = (scenario.churn.perHour * scenario.churn.timeCompression) / 3_600_000
  return 1 - Math.exp(-perMs * dtMs)
}

export function pickWeighted(weights: readonly number[], rng: Rng): number {
  const total = weights.reduce((a, b) => a + b, 0)
  if (total <= 0) return 0
  let r = rng() * total
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i]!
    if (r < 0) return i
  }
  return weights.length - 1
}

/** `k` distinct integers from [0, n), in the order drawn. */
export function sampleDistinct(n: number, k: number, rng: Rng): number[] {
  if (k >= n) return shuffle(Array.from({length: n}, (_, i) => i), rng)
  const seen = new Set<number>()
  const out: number[] = []
  while (out.length < k) {
    const v = Math.floor(rng() * n)
    if (seen.has(v)) continue
    seen.add(v)
    out.push(v)
  }
  return out
}

function shuffle<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}
