import {describe, expect, it} from 'vitest'

import {createMetrics} from '../../../src/server/metrics.js'

describe('createMetrics', () => {
  it('keeps the process metrics but not the ones that list every socket on each scrape', async () => {
    const {registry} = createMetrics({node: 'n1'})
    const names = registry.getMetricsAsArray().map((m) => m.name)
    expect(names).toContain('msgr_process_process_cpu_seconds_total')
    expect(names).toContain('msgr_process_nodejs_eventloop_lag_seconds')
    if (process.platform === 'linux') expect(names).toContain('msgr_process_process_open_fds')
    expect(names.filter((name) => name.startsWith('msgr_process_nodejs_active_'))).toEqual([])
    expect(await registry.metrics()).not.toMatch(/nodejs_active_(handles|requests|resources)/)
  })
})

describe.runIf(process.platform === 'linux')('open file descriptors', () => {
  it('counts the descriptors this process opens and closes', async () => {
    const {openSync, closeSync} = await import('node:fs')
    const {openFdCount} = await import('../../../src/server/metrics.js')
    const before = openFdCount()
    const fds = Array.from({length: 50}, () => openSync('/dev/null', 'r'))
    expect(openFdCount() - before).toBe(50)
    for (const fd of fds) closeSync(fd)
    expect(openFdCount()).toBe(before)
    const {registry} = createMetrics({node: 'n1'})
    const text = await registry.metrics()
    const value = Number(/^msgr_process_process_open_fds\{[^}]*\} (\d+)$/m.exec(text)?.[1])
    expect(Math.abs(value - openFdCount())).toBeLessThanOrEqual(2)
  })
})
