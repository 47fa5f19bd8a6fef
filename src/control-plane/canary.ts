import {randomUUID} from 'node:crypto'

import {type AuthService, type TokenPair, createAuthService} from '../core/auth/auth-service.js'
import {createLogSmsSink} from '../core/auth/sms.js'
import type {Logger} from '../core/logger.js'
import {type Clock, type LeaderElection, type Sql, systemClock} from '../core/ports.js'
import type {Metrics} from '../server/metrics.js'
import type {CanaryConfig} from './canary-config.js'
import {type CanaryDevice, runProbe} from './canary-probe.js'
import {type CanaryOutcome, type CanaryReport, type CanaryStage, type CanarySummary, publishedByLeader, recordOutcome, summarize} from './canary-status.js'
import {listNodes} from './node-registry.js'

// The end-to-end canary: every `intervalMs` the control-plane leader (and only it) sends one message
// between two devices of a canary user through the real gateways and workers, and records the ack and
// delivery latencies. Followers report what the leader publishes in its heartbeat.

export interface CanaryDeps {
  sql: Sql
  election: LeaderElection
  metrics: Metrics
  logger: Logger
  nodeId: string
  /** Liveness window of the node registry. */
  livenessMs: number
  /** The gateways' JWT secret: the canary signs its own access tokens. Without it the canary is off. */
  jwtSecret?: string
  accessTtlSec?: number
  refreshTtlSec?: number
  clock?: Clock
}

export interface Canary {
  readonly enabled: boolean
  /** False while the last `failureThreshold` probes failed: this node's own when it leads, the leader's otherwise. */
  healthy(): boolean
  /** GET /v1/admin/canary; a follower reads the leader's published summary afresh. */
  report(): Promise<CanaryReport>
  /** For this node's heartbeat stats: only the leader publishes one. */
  summary(): CanarySummary | undefined
  stop(): Promise<void>
}

export function startCanary(config: CanaryConfig, deps: CanaryDeps): Canary {
  const {sql, election, metrics, nodeId} = deps
  const logger = deps.logger.child({component: 'canary'})
  const clock = deps.clock ?? systemClock
  const enabled = config.intervalMs > 0 && deps.jwtSecret !== undefined
  if (config.intervalMs > 0 && !deps.jwtSecret) {
    logger.warn('canary disabled: the control plane needs the gateways\' JWT secret (--jwt-secret or MSGR_JWT_SECRET) to sign in its canary devices')
  }

  let history: CanaryOutcome[] = []
  let remote: {node: string; summary: CanarySummary | undefined} | undefined
  let round = 0
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  const aborter = new AbortController()
  const identities = enabled ? canaryIdentities(config.phone, createAuthService({
    sql,
    sms: createLogSmsSink(logger),
    jwtSecret: deps.jwtSecret!,
    accessTtlSec: deps.accessTtlSec,
    refreshTtlSec: deps.refreshTtlSec,
    clock,
    logger,
  }), clock) : undefined

  const nodes = () => listNodes(sql, deps.livenessMs)
  const own = () => summarize(history, config.failureThreshold)

  const probe = async (): Promise<CanaryOutcome> => {
    const at = new Date(clock.now()).toISOString()
    let outcome: CanaryOutcome
    let stage: CanaryStage = 'auth'
    try {
      const devices = await identities!()
      stage = 'gateway'
      const all = await nodes()
      outcome = await runProbe({nodes: all, devices, timeoutMs: config.timeoutMs, round: round++, clientMsgId: `canary-${randomUUID()}`, at, signal: aborter.signal})
    } catch (error) {
      outcome = {ok: false, at, stage, error: error instanceof Error ? error.message : String(error)}
    }
    if (stopped) return outcome
    history = recordOutcome(history, outcome, config.history)
    if (outcome.ok) {
      metrics.canaryAckSeconds.observe(outcome.ackMs! / 1000)
      metrics.canaryDeliverySeconds.observe(outcome.deliveryMs! / 1000)
      logger.debug({canary: outcome}, 'canary ok')
    } else {
      metrics.canaryFailures.inc({stage: outcome.stage ?? 'unknown'})
      logger.warn({canary: outcome, consecutiveFailures: own().consecutiveFailures}, 'canary failed')
    }
    return outcome
  }

  const tick = async () => {
    try {
      if (election.isLeader()) await probe()
      else remote = publishedByLeader(await nodes(), nodeId)
    } catch (error) {
      logger.warn({err: error}, 'canary round failed')
    }
  }
  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      running = tick().finally(schedule)
    }, config.intervalMs)
  }

  // A new term starts with a clean slate: the last term's failures may be another leader's cluster view.
  const unsubscribe = election.onChange((leader) => {
    history = []
    logger.info({node: nodeId}, leader ? 'control-plane leader: running the canary' : 'no longer control-plane leader')
  })
  if (enabled) schedule()

  return {
    enabled,
    healthy() {
      if (!enabled) return true
      if (election.isLeader()) return !own().failing
      return !(remote?.summary?.failing ?? false)
    },
    async report() {
      const leader = election.isLeader()
      if (!enabled) return {enabled, leader, leaderNode: null, failing: false, consecutiveFailures: 0, last: null, history: []}
      if (leader) return {enabled, leader, leaderNode: nodeId, ...own(), history: [...history]}
      remote = publishedByLeader(await nodes(), nodeId)
      const summary = remote?.summary
      return {
        enabled,
        leader,
        leaderNode: remote?.node ?? null,
        failing: summary?.failing ?? false,
        consecutiveFailures: summary?.consecutiveFailures ?? 0,
        last: summary?.last ?? null,
        history: [],
      }
    },
    summary: () => (enabled && election.isLeader() ? own() : undefined),
    async stop() {
      stopped = true
      clearTimeout(timer)
      unsubscribe()
      aborter.abort()
      await running?.catch(() => {})
    },
  }
}

type DeviceTokens = TokenPair & {refreshAt: number}

/** The canary user's two devices: created once per process, their tokens refreshed halfway through their life. */
function canaryIdentities(phone: string, auth: AuthService, clock: Clock): () => Promise<[CanaryDevice, CanaryDevice]> {
  let devices: DeviceTokens[] | undefined
  const stamp = (pair: TokenPair): DeviceTokens => ({...pair, refreshAt: clock.now() + (pair.expiresIn * 1000) / 2})
  const issue = async (name: string) => stamp(await auth.issueForPhone(phone, {name, platform: 'canary'}))
  const names = ['msgr canary A', 'msgr canary B']
  return async () => {
    // One after the other: the first call creates the user.
    if (!devices) devices = [await issue(names[0]!), await issue(names[1]!)]
    for (const [i, device] of devices.entries()) {
      if (clock.now() < device.refreshAt) continue
      devices[i] = await auth.refresh(device.refreshToken).then(stamp, () => issue(names[i]!))
    }
    return [devices[0]!, devices[1]!]
  }
}
