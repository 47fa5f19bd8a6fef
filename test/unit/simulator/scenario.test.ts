import {describe, expect, it} from 'vitest'

import {defaultScenario, parseScenario, ScenarioError} from '../../../src/simulator/scenario.js'

describe('scenario', () => {
  it('defaults to the seed traffic model', () => {
    const s = defaultScenario()
    expect(s.conversations).toMatchObject({directShare: 0.7, groupSizeMean: 8, largeGroupShare: 0.05, largeGroupMin: 50, largeGroupMessageShare: 0.2})
    expect(s.churn).toMatchObject({perHour: 0.1})
    expect(s.message.bytes).toBe(100)
    expect(s.media).toMatchObject({share: 0.3, bytes: 50 * 1024})
    expect(s.rate.arrival).toBe('closed')
    const w = s.devices.weights
    const mean = w.reduce((sum, p, i) => sum + p * (i + 1), 0) / w.reduce((a, b) => a + b, 0)
    expect(mean).toBeCloseTo(500 / 300, 1) // 500M connections for 300M online users
  })

  it('parses YAML, keeps defaults for what is left out, and reads durations', () => {
    const s = parseScenario('name: burst\nusers: 500\nrate:\n  arrival: open\n  messagesPerSecond: 200\nphases:\n  steady: 2m\n  rampUp: 1500ms\n  settle: 7\n')
    expect(s.name).toBe('burst')
    expect(s.users).toBe(500)
    expect(s.rate).toMatchObject({arrival: 'open', messagesPerSecond: 200, maxInFlight: 500})
    expect(s.phases).toEqual({rampUp: 1.5, steady: 120, rampDown: 5, settle: 7})
    expect(s.conversations.directShare).toBe(0.7)
  })

  it('an empty file is the default scenario', () => {
    expect(parseScenario('')).toEqual(defaultScenario())
  })

  it('names every bad field, unknown ones included', () => {
    const bad = () => parseScenario('users: 1\nrate:\n  arrival: sometimes\nconversations:\n  directshare: 0.5\nphases:\n  steady: soon\n', 'x.yaml')
    expect(bad).toThrow(ScenarioError)
    expect(bad).toThrow(/^x\.yaml: /)
    expect(bad).toThrow(/users: Too small/)
    expect(bad).toThrow(/rate\.arrival: /)
    expect(bad).toThrow(/conversations: Unrecognized key: "directshare"/)
    expect(bad).toThrow(/phases\.steady: "soon" is not a duration/)
  })

  it('refuses text that is not YAML', () => {
    expect(() => parseScenario('rate: [1, 2', 'y.yaml')).toThrow(/y\.yaml: not valid YAML/)
  })
})

describe('the example scenario file', () => {
  it('spells out exactly the defaults', async () => {
    const {readFile} = await import('node:fs/promises')
    const text = await readFile(new URL('../../../src/simulator/scenarios/default.yaml', import.meta.url), 'utf8')
    expect(parseScenario(text, 'default.yaml')).toEqual(defaultScenario())
  })
})
