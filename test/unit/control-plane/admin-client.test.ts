import {describe, expect, it} from 'vitest'

import {AdminApiError, type DrainProgress, drainExitCode, watchDrain} from '../../../src/control-plane/admin-client.js'
import type {DrainRequest, NodeRecord} from '../../../src/control-plane/node-registry.js'

const drain: DrainRequest = {requestedAt: '2026-01-01T00:00:00.000Z', deadlineAt: '2026-01-01T00:00:05.000Z', force: false, reason: 'drain'}

function record(state: NodeRecord['state'], stats: Record<string, unknown>, alive = true): NodeRecord {
  return {id: 'gw0', role: 'gateway', address: 'gw0:8080', version: '0.1.0', state, startedAt: '', heartbeatAt: '', ageMs: alive ? 100 : 20_000, alive, stats, drain}
}

/** A fake control plane answering with `script[i]` on the i-th poll (the last one repeats), on a fake clock. */
function scripted(script: Array<NodeRecord | Error>) {
  let now = 1_000_000
  let calls = 0
  const seen: DrainProgress[] = []
  const client = {
    node: async () => {
      const next = script[Math.min(calls++, script.length - 1)]!
      if (next instanceof Error) throw next
      return {node: next, leases: []}
    },
  }
  const options = {now: () => now, sleep: async (ms: number) => void (now += ms), onProgress: (p: DrainProgress) => void seen.push(p)}
  return {client, options, seen, calls: () => calls}
}

const busy = (connections: number, partitions: number) => record('draining', {draining: true, drained: false, connections, partitions})

describe('watchDrain', () => {
  it('reports progress every poll and ends when the node says drained', async () => {
    const s = scripted([busy(10, 4), busy(3, 0), record('draining', {draining: true, drained: true, connections: 0, partitions: 0})])
    const result = await watchDrain(s.client, 'gw0', drain, s.options)
    expect(result).toMatchObject({outcome: 'drained', elapsedSec: 2, left: {connections: 0, partitions: 0}})
    expect(s.seen.map((p) => [p.connections, p.partitions, p.elapsedSec, p.deadlineInSec])).toEqual([
      [10, 4, 0, 5],
      [3, 0, 1, 4],
      [0, 0, 2, 3],
    ])
    expect(drainExitCode(result)).toBe(0)
  })

  it('ignores a drained flag from before the node saw the request', async () => {
    const stale = record('draining', {drained: true, connections: 0, partitions: 0}) // no `draining` yet: an old report
    const s = scripted([stale, record('draining', {draining: true, drained: true})])
    expect((await watchDrain(s.client, 'gw0', drain, s.options)).elapsedSec).toBe(1)
  })

  it('times out (exit 3) once the deadline and the grace have passed with work left', async () => {
    const s = scripted([busy(2, 0)])
    const result = await watchDrain(s.client, 'gw0', drain, {...s.options, graceMs: 3000})
    expect(result).toMatchObject({outcome: 'timed_out', left: {connections: 2, partitions: 0}})
    expect(result.elapsedSec).toBe(9) // first poll after 5 s + 3 s
    expect(drainExitCode(result)).toBe(3)
  })

  it('stopped is success; undrained (cancelled) and dead (lost) are errors', async () => {
    for (const [node, outcome, code] of [
      [record('stopped', {}, false), 'stopped', 0],
      [record('active', {}), 'cancelled', 1],
      [record('draining', {draining: true}, false), 'lost', 1],
    ] as const) {
      const result = await watchDrain(scripted([node]).client, 'gw0', drain, scripted([node]).options)
      expect(result.outcome).toBe(outcome)
      expect(drainExitCode(result)).toBe(code)
    }
  })

  it('rides out a brief control-plane outage but not a long one, nor an unknown node', async () => {
    const blip = new AdminApiError('unreachable', 'down')
    const ok = scripted([blip, blip, record('draining', {draining: true, drained: true})])
    expect((await watchDrain(ok.client, 'gw0', drain, ok.options)).outcome).toBe('drained')
    await expect(watchDrain(scripted([blip]).client, 'gw0', drain, scripted([blip]).options)).rejects.toThrow('down')
    const gone = scripted([new AdminApiError('not_found', 'no node gw0', 404)])
    await expect(watchDrain(gone.client, 'gw0', drain, gone.options)).rejects.toThrow('no node gw0')
    expect(gone.calls()).toBe(1)
  })
})
