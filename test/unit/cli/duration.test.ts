import {describe, expect, it} from 'vitest'

import {formatDuration, parseDuration} from '../../../src/cli/duration.js'

describe('parseDuration', () => {
  it('reads what operators type', () => {
    expect(parseDuration('60')).toBe(60_000)
    expect(parseDuration('60s')).toBe(60_000)
    expect(parseDuration('2m')).toBe(120_000)
    expect(parseDuration('1m30s')).toBe(90_000)
    expect(parseDuration('1h')).toBe(3_600_000)
    expect(parseDuration('1.5s')).toBe(1500)
    expect(parseDuration('500ms')).toBe(500)
    expect(parseDuration(' 5S ')).toBe(5000)
  })

  it('rejects anything else with an example', () => {
    for (const bad of ['', 's', '5x', '-5s', '5s garbage', '1d', 'm5']) expect(() => parseDuration(bad)).toThrow(/e\.g\. 60s, 2m/)
  })
})

describe('formatDuration', () => {
  it('is short and exact enough', () => {
    expect([0, 42, 60, 185, 3600 + 14 * 60 + 5, 3 * 86_400 + 4 * 3600].map(formatDuration)).toEqual(['0s', '42s', '1m00s', '3m05s', '1h14m', '3d4h'])
  })
})
