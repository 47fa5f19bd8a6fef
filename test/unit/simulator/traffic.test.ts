import {describe, expect, it} from 'vitest'

import {mulberry32} from '../../../src/core/random.js'
import {defaultScenario} from '../../../src/simulator/scenario.js'
import {
  arrivalsBetween,
  churnProbability,
  nextThresholdStep,
  phaseTimes,
  phoneFor,
  pickConversation,
  planPopulation,
  rateAt,
  sampleGroupSize,
  sliceRate,
} from '../../../src/simulator/traffic.js'
import {scenarioSchema} from '../../../src/simulator/types.js'

const seed = defaultScenario()

describe('traffic model', () => {
  it('group sizes average 8 with 5% of groups at 50+ members', () => {
    const rng = mulberry32(42)
    const n = 40_000
    let total = 0
    let large = 0
    for (let i = 0; i < n; i++) {
      const {size, large: isLarge} = sampleGroupSize(seed, rng)
      expect(size).toBeGreaterThanOrEqual(3)
      expect(isLarge).toBe(size >= 50)
      total += size
      if (isLarge) large++
    }
    expect(total / n).toBeGreaterThan(7.6)
    expect(total / n).toBeLessThan(8.4)
    expect(large / n).toBeGreaterThan(0.045)
    expect(large / n).toBeLessThan(0.055)
  })

  it('70% of messages go to 1:1 conversations and large groups carry 20% of group messages', () => {
    const rng = mulberry32(7)
    const population = planPopulation(seed, 2000, rng)
    expect(population.largeGroups.length).toBeGreaterThan(0)
    let direct = 0
    let group = 0
    let largeGroup = 0
    for (let i = 0; i < 50_000; i++) {
      const c = population.conversations[pickConversation(population, seed, rng)!]!
      if (c.kind === 'direct') direct++
      else {
        group++
        if (c.large) largeGroup++
      }
    }
    expect(direct / 50_000).toBeCloseTo(0.7, 1)
    expect(largeGroup / group).toBeCloseTo(0.2, 1)
  })

  it('plans devices, contacts and groups inside the slice, the same way for the same seed', () => {
    const a = planPopulation(seed, 1000, mulberry32(1))
    const b = planPopulation(seed, 1000, mulberry32(1))
    expect(a).toEqual(b)
    const meanDevices = a.devices.reduce((s, d) => s + d, 0) / a.devices.length
    expect(meanDevices).toBeGreaterThan(1.5)
    expect(meanDevices).toBeLessThan(1.8)
    expect(a.directs.length).toBe(2000) // 1000 users × 4 contacts / 2
    for (const c of a.conversations) {
      expect(new Set(c.members).size).toBe(c.members.length)
      for (const m of c.members) expect(m).toBeLessThan(1000)
    }
    const memberships = a.conversations.filter((c) => c.kind === 'group').reduce((s, c) => s + c.members.length, 0)
    expect(memberships / 1000).toBeGreaterThan(1.2)
    expect(memberships / 1000).toBeLessThan(1.8)
    for (const [u, convs] of a.conversationsOf.entries()) for (const c of convs) expect(a.conversations[c]!.members).toContain(u)
  })

  it('caps groups at the slice size and makes no duplicate pairs in tiny slices', () => {
    const p = planPopulation(seed, 3, mulberry32(3))
    expect(p.directs.length).toBeLessThanOrEqual(3)
    for (const c of p.conversations) expect(c.members.length).toBeLessThanOrEqual(3)
  })

  it('ramps the rate up, holds it and ramps it down; arrivals integrate it', () => {
    const s = scenarioSchema.parse({phases: {rampUp: 10, steady: 20, rampDown: 10}})
    const t = phaseTimes(s)
    expect(rateAt(t, 100, 0)).toBe(0)
    expect(rateAt(t, 100, 5000)).toBe(50)
    expect(rateAt(t, 100, 15_000)).toBe(100)
    expect(rateAt(t, 100, 35_000)).toBe(50)
    expect(rateAt(t, 100, 40_000)).toBe(0)
    // 10 s at an average of 50/s, 20 s at 100/s, 10 s at an average of 50/s.
    expect(arrivalsBetween(t, 100, 0, 40_000)).toBeCloseTo(3000, 6)
    let stepped = 0
    for (let ms = 0; ms < 40_000; ms += 10) stepped += arrivalsBetween(t, 100, ms, ms + 10)
    expect(stepped).toBeCloseTo(3000, 6)
  })

  it('open-loop thresholds are exponential with mean 1; closed-loop ones are 1', () => {
    const rng = mulberry32(9)
    let sum = 0
    for (let i = 0; i < 20_000; i++) sum += nextThresholdStep('open', rng)
    expect(sum / 20_000).toBeCloseTo(1, 1)
    expect(nextThresholdStep('closed', rng)).toBe(1)
  })

  it('scales the rate by the slice share and compresses churn', () => {
    const s = scenarioSchema.parse({users: 1000, rate: {messagesPerSecond: 200}, churn: {perHour: 0.1, timeCompression: 60}})
    expect(sliceRate(s, 250)).toBe(50)
    // 10%/hour × 60 = 10% per minute.
    expect(churnProbability(s, 60_000)).toBeCloseTo(1 - Math.exp(-0.1), 6)
  })

  it('derives valid, distinct E.164 phone numbers from the run id', () => {
    const a = phoneFor('run-a', 0)
    expect(a).toMatch(/^\+[1-9]\d{6,14}$/)
    expect(phoneFor('run-a', 999_999_999)).toMatch(/^\+[1-9]\d{6,14}$/)
    expect(phoneFor('run-a', 1)).not.toBe(a)
    expect(phoneFor('run-a', 0)).toBe(a)
  })
})
