import {Box, render, Text} from 'ink'

import {sparkline} from '../cli/top/sparkline.js'
import type {Progress} from './types.js'

// The live `msgr sim run` screen on a terminal: phase, rates, latencies, connections, errors, audit so far.

export interface SimDashboardProps {
  progress?: Progress
  target: string
  /** Acks per second, newest last (for the sparkline). */
  history: number[]
}

export function SimDashboard({progress: p, target, history}: SimDashboardProps) {
  if (!p) return <Text>msgr sim run → {target}: starting…</Text>
  const ms = (v: number | undefined) => (v === undefined ? '-' : `${v} ms`)
  const a = p.audit
  const bad = a.duplicated + a.seqConflicts > 0
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>msgr sim run</Text> {p.runId} → {target} <Text color="cyan">{p.phase}</Text> {(p.elapsedMs / 1000).toFixed(0)}s
      </Text>
      <Box marginTop={1} flexDirection="column">
        <Text>
          users {p.loggedIn}/{p.users} logged in connections {p.connections}/{p.devices}
        </Text>
        <Text>
          sent {p.sent} acked {p.acked} <Text bold>{p.ackRate}/s</Text> {sparkline(history)}
        </Text>
        <Text>
          delivery p50 {ms(p.deliveryP50Ms)} p99 {ms(p.deliveryP99Ms)} ack p99 {ms(p.ackP99Ms)} deliveries {p.deliveredEvents}
        </Text>
        <Text>
          pending {p.pending} errors <Text color={p.errors ? 'yellow' : undefined}>{p.errors}</Text>
          {p.finalSync ? ` final sync ${p.finalSync.done}/${p.finalSync.total} devices that were behind` : ''}
        </Text>
        <Text color={bad ? 'red' : 'green'}>
          audit so far: duplicated {a.duplicated} seq conflicts {a.seqConflicts} out of order {a.outOfOrder} redelivered {a.redelivered} (missing is counted after the final sync)
        </Text>
      </Box>
    </Box>
  )
}

export interface LiveDashboard {
  update(progress: Progress): void
  stop(): void
}

export function startDashboard(target: string, stdout: NodeJS.WriteStream = process.stdout): LiveDashboard {
  let progress: Progress | undefined
  const history: number[] = []
  const app = render(<SimDashboard target={target} history={history} />, {stdout, exitOnCtrlC: false, patchConsole: false})
  return {
    update(p) {
      progress = p
      history.push(p.ackRate)
      if (history.length > 60) history.shift()
      app.rerender(<SimDashboard progress={progress} target={target} history={[...history]} />)
    },
    stop() {
      app.unmount()
    },
  }
}
