import {describe, expect, it} from 'vitest'

import {cpuSeconds, drainPlanText, formatBytes, nodesTable, progressLine, ranges, renderTable, statusText} from '../../../src/cli/admin-format.js'
import type {NodeRecord} from '../../../src/control-plane/node-registry.js'

describe('admin output', () => {
  it('renders aligned columns without trailing spaces', () => {
    expect(renderTable(['ID', 'STATE'], [['gw0', 'active'], ['worker-long', 'draining']])).toBe(
      ['ID           STATE', 'gw0          active', 'worker-long  draining'].join('\n'),
    )
  })

  it('formats bytes, CPU seconds and partition ranges', () => {
    expect([0, 512, 2048, 1536 * 1024, 300 * 1024 ** 2, 5 * 1024 ** 3].map(formatBytes)).toEqual(['-', '512 B', '2.0 KiB', '1.5 MiB', '300 MiB', '5.0 GiB'])
    expect(cpuSeconds({stats: {cpu: {user: 1_500_000, system: 500_000}}})).toBe(2)
    expect(cpuSeconds({stats: {}})).toBeUndefined()
    expect(ranges([7, 0, 1, 2, 3, 9, 10, 11])).toBe('0-3, 7, 9-11')
  })

  it('lists nodes like `nats server list`', () => {
    const node: NodeRecord = {
      id: 'gw0',
      role: 'gateway',
      address: 'gw0:8080',
      version: '0.1.0',
      state: 'draining',
      startedAt: '',
      heartbeatAt: '',
      ageMs: 500,
      alive: true,
      stats: {connections: 3, partitions: 0, cpu: {user: 2_000_000, system: 0}, rssBytes: 100 * 1024 ** 2, uptimeSec: 3700, drained: true},
      drain: null,
    }
    expect(nodesTable([node])).toBe(
      [
        'ID   ROLE     STATE    ALIVE  CONNS  PARTS  CPU   MEM      UPTIME  VERSION',
        'gw0  gateway  drained  yes    3      -      2.0s  100 MiB  1h01m   0.1.0',
        '',
        '1 node, 1 alive, 3 connections, 0 partitions owned',
      ].join('\n'),
    )
  })

  it('explains a dry run, progress and status in words', () => {
    const drain = {requestedAt: '2026-01-01T00:00:00.000Z', deadlineAt: '2026-01-01T00:02:00.000Z', force: false, reason: 'upgrade'}
    const plan = {node: 'wk0', roles: ['worker'], state: 'active' as const, connections: 0, gatewayTargets: [], drain, warnings: ['careful'], partitions: [0, 1, 2, 5].map((partition) => ({partition, to: partition < 3 ? 'wk1' : 'wk2'}))}
    expect(drainPlanText(plan)).toBe(
      [
        'Dry run: drain of wk0 (worker; active); nothing was changed.',
        '  deadline    2m00s',
        '  reason      upgrade',
        '  clients     none (not a gateway)',
        '  partitions  4 would move',
        '    → wk1: 0-2',
        '    → wk2: 5',
        '  warning: careful',
      ].join('\n'),
    )
    expect(progressLine({node: 'gw0', state: 'draining', alive: true, connections: 12, partitions: 0, drained: false, elapsedSec: 3, deadlineInSec: -2})).toBe(
      'gw0: 12 connections, 0 partitions left; 3s elapsed, deadline passed 2s ago',
    )
    const text = statusText({
      nodes: {total: 2, alive: 1, byRole: {gateway: 1, worker: 1}, byState: {active: 1, draining: 0, stopped: 1}},
      partitions: {total: 4, owned: 0, unowned: 4, expired: 0},
      gateways: {active: 1, connections: 9},
      ready: false,
      problems: ['no live worker', '4 partitions without a live owner'],
      warnings: [],
    })
    expect(text).toBe(
      [
        'Cluster:    NOT READY',
        'Nodes:      2 (1 alive): 1 gateway, 1 worker; 1 active, 1 stopped',
        'Partitions: 4: 0 owned, 4 unowned, 0 expired',
        'Gateways:   1 active, 9 connections',
        'Problems:   no live worker; 4 partitions without a live owner',
      ].join('\n'),
    )
  })
})
