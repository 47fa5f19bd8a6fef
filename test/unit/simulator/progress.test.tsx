import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'

import {SimDashboard} from '../../../src/simulator/dashboard.js'
import {progressLine} from '../../../src/simulator/progress-line.js'
import type {Progress} from '../../../src/simulator/types.js'

const progress: Progress = {
  runId: 'run-1',
  phase: 'steady',
  elapsedMs: 12_400,
  users: 30,
  devices: 51,
  loggedIn: 30,
  connections: 49,
  sent: 120,
  acked: 118,
  deliveredEvents: 480,
  errors: 2,
  ackRate: 10,
  deliveryP50Ms: 12.5,
  deliveryP99Ms: 180,
  ackP99Ms: 90,
  pending: 3,
  audit: {outOfOrder: 0, duplicated: 0, seqConflicts: 0, redelivered: 1},
}

describe('progress output', () => {
  it('prints one plain line with the figures that matter', () => {
    const line = progressLine(progress)
    expect(line).toContain('steady')
    expect(line).toContain('conn 49/51')
    expect(line).toContain('acked 118 (10/s)')
    expect(line).toContain('p50 12.5ms p99 180ms')
    expect(line).toContain('pending 3')
    expect(line).not.toContain('dup')
    expect(progressLine({...progress, audit: {...progress.audit, duplicated: 1}})).toContain('dup 1')
  })

  it('draws the dashboard', () => {
    const {lastFrame} = render(<SimDashboard progress={progress} target="http://127.0.0.1:8080" history={[1, 5, 10]} />)
    const frame = lastFrame() ?? ''
    expect(frame).toContain('msgr sim run')
    expect(frame).toContain('steady')
    expect(frame).toContain('connections 49/51')
    expect(frame).toContain('p99 180 ms')
    expect(frame).toContain('audit so far')
  })

  it('shows a starting screen before the first progress', () => {
    const {lastFrame} = render(<SimDashboard target="http://x" history={[]} />)
    expect(lastFrame()).toContain('starting')
  })
})
