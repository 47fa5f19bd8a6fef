import {stripVTControlCharacters} from 'node:util'

import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'

import {Dashboard, dashboardText} from '../../../src/cli/top/dashboard.js'
import type {TopNodeRow, TopView} from '../../../src/cli/top/model.js'

// Colours depend on the environment (FORCE_COLOR); the assertions are about the text.
const plain = (frame: string | undefined) => stripVTControlCharacters(frame ?? '')

const row = (over: Partial<TopNodeRow>): TopNodeRow => ({
  id: 'x',
  role: 'gateway',
  state: 'active',
  draining: false,
  alive: true,
  lastSeenSec: 0.4,
  connections: null,
  partitions: null,
  cpuPercent: null,
  rssBytes: 80 * 1024 ** 2,
  uptimeSec: 3725,
  version: '0.1.0',
  ...over,
})

const view: TopView = {
  at: '2026-01-01T12:00:00.000Z',
  cluster: {
    ready: false,
    problems: ['no active gateway', '2 partitions without a live owner'],
    warnings: ['node wk1 missed its heartbeats (last 12s ago)'],
    nodes: {total: 3, alive: 2},
  },
  nodes: [
    row({id: 'gw0', state: 'draining', draining: true, connections: 42, cpuPercent: 12.34}),
    row({id: 'wk0', role: 'worker', partitions: 6, cpuPercent: 3.5}),
    row({id: 'wk1', role: 'worker', partitions: 2, alive: false, lastSeenSec: 12, rssBytes: null, uptimeSec: null}),
  ],
  totals: {connections: 42, partitions: {total: 8, owned: 6, unowned: 2, expired: 0}, storedPerSec: 1234.5},
  history: [0, 100, 400, 1234.5],
}

describe('msgr top view', () => {
  it('renders the header, the node table, totals and key help', () => {
    const {lastFrame, unmount} = render(<Dashboard view={view} url="http://cp:8080" intervalMs={1000} help="q quit" />)
    const frame = plain(lastFrame())
    unmount()
    expect(frame).toContain('cluster NOT READY')
    expect(frame).toContain('2/3 nodes alive')
    expect(frame).toContain('Problems: no active gateway; 2 partitions without a live owner')
    expect(frame).toContain('Warnings: node wk1 missed its heartbeats')
    const lines = frame.split('\n')
    expect(lines.find((l) => l.startsWith('ID'))).toMatch(/^ID\s+ROLE\s+STATE\s+ALIVE\s+CONNS\s+PARTS\s+CPU%\s+MEM\s+UPTIME\s+VERSION$/)
    expect(lines.find((l) => l.startsWith('wk0'))).toMatch(/^wk0\s+worker\s+active\s+yes\s+-\s+6\s+3\.5\s+80\.0 MiB\s+1h02m\s+0\.1\.0$/)
    expect(lines.find((l) => l.startsWith('wk1'))).toMatch(/^wk1\s+worker\s+active\s+no \(12s\)\s+-\s+2\s+-\s+-\s+-\s+0\.1\.0$/)
    expect(frame).toContain('Totals: 42 connections  partitions 6 owned, 2 unowned  1.2k msgs/s stored')
    expect(frame).toContain('msgs/s  ▁▁▃█  peak 1.2k over the last 4 samples')
    expect(frame).toContain('q quit')
  })

  it('highlights draining nodes with a label that survives without colour', () => {
    const {lastFrame, unmount} = render(<Dashboard view={view} />)
    const gw = plain(lastFrame()).split('\n').find((l) => l.startsWith('gw0'))
    unmount()
    expect(gw).toMatch(/^gw0\s+gateway\s+DRAINING\s+yes\s+42\s+-\s+12\.3\s/)
    const drained = {...view, nodes: [row({id: 'gw0', state: 'drained', draining: true, connections: 0})]}
    expect(plain(dashboardText({view: drained}, 120))).toMatch(/gw0\s+gateway\s+DRAINED/)
  })

  it('says when the cluster is fine, and keeps the last data on screen when a refresh fails', () => {
    const ok: TopView = {...view, cluster: {...view.cluster, ready: true, problems: [], warnings: []}}
    const {lastFrame, unmount} = render(<Dashboard view={ok} error="cannot reach the control plane" />)
    const frame = plain(lastFrame())
    unmount()
    expect(frame).toContain('cluster READY')
    expect(frame).toContain('Problems: none')
    expect(frame).not.toContain('Warnings')
    expect(frame).toMatch(/refresh failed, showing \d\d:\d\d:\d\d: cannot reach the control plane/)
    expect(frame).toContain('wk0')
  })

  it('cuts the node table to the screen height', () => {
    const many: TopView = {...view, nodes: Array.from({length: 30}, (_, i) => row({id: `gw${i}`}))}
    const {lastFrame, unmount} = render(<Dashboard view={many} height={20} help="q quit" />)
    const lines = plain(lastFrame()).split('\n')
    unmount()
    expect(lines.length).toBeLessThan(20)
    expect(lines.some((l) => /^… \d+ more \(enlarge the terminal\)$/.test(l))).toBe(true)
  })
})
