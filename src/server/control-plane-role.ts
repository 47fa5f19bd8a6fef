import type {Logger} from '../core/logger.js'
import type {Clock, LeaderElection} from '../core/ports.js'
import {type Canary, startCanary} from '../control-plane/canary.js'
import type {CanarySummary} from '../control-plane/canary-status.js'
import type {Adapters} from './adapters.js'
import type {NodeConfig} from './config.js'
import type {Metrics} from './metrics.js'

// What a control-plane node runs besides the admin API: its campaign for leadership among the
// control-plane replicas, and the canary that only the leader runs.

export interface ControlPlaneRole {
  election: LeaderElection
  canary: Canary
  /** /readyz checks: `canary` turns false after `canary.failureThreshold` failed probes in a row. */
  readyChecks(): {canary: boolean}
  /** /readyz fields that do not decide readiness. */
  readyInfo(): {leader: boolean}
  /** Heartbeat stats: `leader`, and on the leader the canary summary every control plane reports. */
  stats(): {leader: boolean; canary?: CanarySummary}
  close(): Promise<void>
}

export interface ControlPlaneDeps {
  adapters: Pick<Adapters, 'sql' | 'leaderElection'>
  metrics: Metrics
  logger: Logger
  livenessMs: number
  clock?: Clock
}

export function startControlPlaneRole(config: NodeConfig, deps: ControlPlaneDeps): ControlPlaneRole {
  const election = deps.adapters.leaderElection(config.nodeId)
  const canary = startCanary(config.canary, {
    sql: deps.adapters.sql,
    election,
    metrics: deps.metrics,
    logger: deps.logger,
    nodeId: config.nodeId,
    livenessMs: deps.livenessMs,
    jwtSecret: config.jwtSecret,
    accessTtlSec: config.accessTtlSec,
    refreshTtlSec: config.refreshTtlSec,
    clock: deps.clock,
  })
  let closed = false
  return {
    election,
    canary,
    readyChecks: () => ({canary: canary.healthy()}),
    readyInfo: () => ({leader: election.isLeader()}),
    stats() {
      const summary = canary.summary()
      return summary ? {leader: election.isLeader(), canary: summary} : {leader: election.isLeader()}
    },
    async close() {
      if (closed) return
      closed = true
      await canary.stop()
      await election.close()
    },
  }
}
