import {describe, expect, it} from 'vitest'

import {canaryLine, canaryText, leaderOf} from '../../../src/cli/canary-format.js'
import type {CanaryReport} from '../../../src/control-plane/canary-status.js'
import type {NodeRecord} from '../../../src/control-plane/node-registry.js'

const ok = {ok: true, at: '2026-01-01T00:00:00.000Z', ackMs: 4.2, deliveryMs: 6.1, sender: 'gw0', receiver: 'gw1'}
const failed = {ok: false, at: '2026-01-01T00:00:10.000Z', stage: 'send' as const, error: 'send: no answer within 5000 ms'}
const report: CanaryReport = {enabled: true, leader: true, leaderNode: 'cp0', failing: false, consecutiveFailures: 0, last: ok, history: [ok]}

describe('canary output', () => {
  it('says ok with latencies, failing with the reason, or why it is not running', () => {
    expect(canaryLine(report)).toBe('ok; last at 2026-01-01T00:00:00.000Z: ack 4.2 ms, delivery 6.1 ms (gw0 → gw1); leader cp0')
    expect(canaryLine({...report, failing: true, consecutiveFailures: 2, last: failed})).toBe(
      'FAILING (2 in a row); last at 2026-01-01T00:00:10.000Z: send failed: send: no answer within 5000 ms; leader cp0',
    )
    expect(canaryLine({...report, enabled: false})).toBe('off')
    expect(canaryLine({...report, leaderNode: null})).toBe('not running (no control-plane leader)')
    expect(canaryLine({...report, last: null})).toBe('no probe yet (leader cp0)')
    expect(canaryText({...report, history: [failed, ok]}).split('\n')).toEqual([
      'Canary: ok; last at 2026-01-01T00:00:00.000Z: ack 4.2 ms, delivery 6.1 ms (gw0 → gw1); leader cp0',
      '  FAIL at 2026-01-01T00:00:10.000Z: send failed: send: no answer within 5000 ms',
      '  ok   at 2026-01-01T00:00:00.000Z: ack 4.2 ms, delivery 6.1 ms (gw0 → gw1)',
    ])
  })

  it('finds the live leader in the heartbeats', () => {
    const node = (id: string, leader: boolean, alive = true) => ({id, alive, stats: {leader}}) as unknown as NodeRecord
    expect(leaderOf([node('cp0', false), node('cp1', true)])).toBe('cp1')
    expect(leaderOf([node('cp1', true, false)])).toBeUndefined()
  })
})
