import type {CanaryOutcome, CanaryReport, CanaryStatusView} from '../control-plane/canary-status.js'
import type {NodeRecord} from '../control-plane/node-registry.js'

// Human output of the canary and of control-plane leadership (the --json output is the API's own shape).

/** One line for `msgr status`: ok with latencies, failing with the reason, or off. */
export function canaryLine(canary: CanaryStatusView): string {
  if (!canary.enabled) return 'off'
  if (canary.leaderNode === null) return 'not running (no control-plane leader)'
  const last = canary.last
  if (!last) return `no probe yet (leader ${canary.leaderNode})`
  const state = canary.failing ? `FAILING (${canary.consecutiveFailures} in a row)` : last.ok ? 'ok' : `failed once`
  return `${state}; last ${outcomeText(last)}; leader ${canary.leaderNode}`
}

export function outcomeText(outcome: CanaryOutcome): string {
  if (outcome.ok) return `at ${outcome.at}: ack ${outcome.ackMs} ms, delivery ${outcome.deliveryMs} ms (${outcome.sender} → ${outcome.receiver})`
  return `at ${outcome.at}: ${outcome.stage ?? 'probe'} failed: ${outcome.error ?? 'unknown error'}`
}

export function canaryText(report: CanaryReport): string {
  return [`Canary: ${canaryLine(report)}`, ...report.history.map((o) => `  ${o.ok ? 'ok  ' : 'FAIL'} ${outcomeText(o)}`)].join('\n')
}

/** The live control-plane leader, as the nodes report it in their heartbeats. */
export function leaderOf(nodes: readonly NodeRecord[]): string | undefined {
  return nodes.find((n) => n.alive && n.stats?.leader === true)?.id
}
