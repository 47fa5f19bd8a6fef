import {describe, expect, it} from 'vitest'

import {type Calibration, DEFAULT_CALIBRATION} from '../../../src/simulator/plan/calibration.js'
import {simulateDay} from '../../../src/simulator/plan/diurnal.js'
import {parsePlanInputs, SEED_ESTIMATES} from '../../../src/simulator/plan/inputs.js'
import {computePlan} from '../../../src/simulator/plan/model.js'
import {planText} from '../../../src/simulator/plan/format.js'

// The capacity model's arithmetic on the seed's inputs, checked against hand calculations.

const seed = parsePlanInputs({})
const calibration: Calibration = {
  figures: {...DEFAULT_CALIBRATION.figures, cpuMsPerDelivery: 0.06, cpuMsPerConnect: 2, workerCpuShare: 0.3, wireBytesPerDelivery: 330, wireBytesPerSend: 290, busBytesPerDelivery: 220, storedBytesPerMessage: 420, dbMessagesPerSecondPerPrimary: 21_070, bytesPerConnection: 24 * 1024},
  sources: DEFAULT_CALIBRATION.sources,
}

describe('capacity plan on the seed inputs', () => {
  const plan = computePlan(seed, calibration)
  const t = plan.traffic

  it('has the seed defaults', () => {
    expect(seed).toMatchObject({mau: 1.3e9, messagesPerDay: 100e9, connections: 500e6, peakFactor: 3, groupFanout: 8, groupShare: 0.3, messageBytes: 100, replication: 3})
  })

  it('derives message rates: 100B/day = 1.157M/s average, ×3 = 3.47M/s peak', () => {
    expect(t.averageMessagesPerSecond).toBeCloseTo(1_157_407.407, 2)
    expect(t.peakMessagesPerSecond).toBeCloseTo(3_472_222.222, 2)
    expect(t.dailyActiveUsers).toBe(910e6)
  })

  it("reproduces the seed's fanout: 30B group messages × 8 = 240B/day = 2.78M/s", () => {
    expect(t.groupMessagesPerDay).toBe(30e9)
    expect(t.groupFanoutPerDay).toBe(240e9)
    expect(t.groupFanoutPerSecond).toBeCloseTo(2_777_777.78, 1)
  })

  it('counts live deliveries per device at peak', () => {
    // 0.7 × 1 + 0.3 × 8 = 3.1 recipients; 500M / 300M = 5/3 devices; 40% online.
    expect(t.recipientsPerMessage).toBeCloseTo(3.1, 10)
    expect(t.devicesPerOnlineUser).toBeCloseTo(5 / 3, 10)
    // 3.1 × 0.4 × 5/3 + (5/3 − 1) = 2.0667 + 0.6667
    expect(t.liveDeliveriesPerMessage).toBeCloseTo(2.733333, 5)
    expect(t.liveDeliveriesPerSecondPeak).toBeCloseTo(3_472_222.222 * 2.733333, -1)
    // 3.47M × 3.1 × 0.6 offline
    expect(t.pushNotificationsPerSecondPeak).toBeCloseTo(6_458_333.33, 0)
    // 500M × 10% per hour
    expect(t.connectsPerSecond).toBeCloseTo(13_888.89, 1)
  })

  it('sizes CPU, workers and gateways', () => {
    // (9,490,740.7 × 0.06 + 13,888.9 × 2) / 1000 = 597.2 cores; 30% in workers = 179.2 → 179.2 / (16 × 0.6) = 18.7 → 19
    expect(plan.workers.coresAtPeak).toBeCloseTo(179.17, 1)
    expect(plan.workers.count).toBe(19)
    expect(plan.gateways.coresAtPeak).toBeCloseTo(418.06, 1)
    // memory: 64 GiB × 0.7 / 24 KiB = 1,835,008 connections per server
    expect(plan.gateways.caps.memory).toBe(Math.floor((64 * 2 ** 30 * 0.7) / (24 * 1024)))
    expect(plan.gateways.caps.files).toBe(16_000_000)
    expect(plan.gateways.limitedBy).toBe('memory')
    expect(plan.gateways.count).toBe(Math.ceil(500e6 / plan.gateways.caps.memory))
    expect(plan.memory.connectionStateBytes).toBe(500e6 * 24 * 1024)
  })

  it('computes bandwidth, storage, DB and NATS figures', () => {
    const deliveries = 3_472_222.222 * 2.733333
    expect(plan.bandwidth.deliveriesGbps).toBeCloseTo((deliveries * 330 * 8) / 1e9, 2)
    expect(plan.bandwidth.sendsGbps).toBeCloseTo((3_472_222.222 * 290 * 8) / 1e9, 3)
    // 500M / 25 s × 64 B × 8 bits = 10.24 Gbps
    expect(plan.bandwidth.heartbeatGbps).toBeCloseTo(10.24, 6)
    expect(plan.storage.messagesPerYear).toBe(36.5e12)
    expect(plan.storage.bytesPerYear).toBe(36.5e12 * 420 * 3)
    expect(plan.storage.retainedBytes).toBe(36.5e12 * 420 * 3 * 5)
    // 30% × 50 KiB per message
    expect(plan.storage.mediaBytesPerYear).toBe(36.5e12 * 0.3 * 51_200)
    expect(plan.database.writesPerSecondPeak).toBeCloseTo(3_472_222.222, 2)
    expect(plan.database.primaries).toBe(Math.ceil(3_472_222.222 / 21_070))
    expect(plan.nats.bytesPerSecond).toBeCloseTo(3_472_222.222 * 290 + deliveries * 220, -3)
  })

  it("with the seed's own unit costs the model gives the seed's figures", () => {
    const seedCosts: Calibration = {figures: {...calibration.figures, bytesPerConnection: 1000, storedBytesPerMessage: 100}, sources: calibration.sources}
    const seedServer = parsePlanInputs({server: {cores: 1, maxConnectionsPerProcess: 100_000}})
    const p = computePlan(seedServer, seedCosts)
    expect(p.memory.connectionStateBytes).toBe(SEED_ESTIMATES.connectionStateBytes)
    expect(p.gateways.limitedBy).toBe('files')
    expect(p.gateways.count).toBe(SEED_ESTIMATES.gateways)
    // 36.5T × 100 B × 3 copies = 10.95 PB, the seed's "10 PB"
    expect(p.storage.bytesPerYear).toBeCloseTo(10.95e15, -12)
  })

  it('explains every difference with the seed', () => {
    const figures = plan.comparison.map((r) => r.figure)
    expect(figures).toEqual(['messages/s, average', 'messages/s, peak', 'fanout/s', 'gateways', 'connections per gateway', 'connection state', 'bandwidth, peak', 'storage per year'])
    const byFigure = Object.fromEntries(plan.comparison.map((r) => [r.figure, r]))
    expect(byFigure['fanout/s']!.seed).toBe(2.78e6)
    expect(byFigure['fanout/s']!.why).toContain('2.78M/s')
    expect(byFigure['gateways']!.seed).toBe(5000)
    expect(byFigure['connection state']!.seed).toBe(500e9)
    expect(byFigure['storage per year']!.why).toContain('10.9 PB')
    for (const row of plan.comparison) expect(row.why.length).toBeGreaterThan(20)
    const text = planText(plan)
    expect(text).toContain('Next to the seed:')
    expect(text).toContain('5,000')
  })

  it('applies overrides and rejects bad inputs with the field named', () => {
    const half = computePlan(parsePlanInputs({messagesPerDay: 50e9, peakFactor: 2}), calibration)
    expect(half.traffic.peakMessagesPerSecond).toBeCloseTo((50e9 / 86_400) * 2, 3)
    expect(() => parsePlanInputs({peakFactor: 0.5})).toThrow(/peakFactor/)
    expect(() => parsePlanInputs({server: {cores: 0}})).toThrow(/server\.cores/)
  })
})

describe('virtual day', () => {
  it('one region peaks at 20:00 local time, mean 1', () => {
    const day = simulateDay([{name: 'one', share: 1, utcOffsetHours: 0}])
    expect(day.peakUtcHour).toBe(20)
    expect(day.hourly.reduce((a, v) => a + v, 0) / 24).toBeCloseTo(1, 10)
    expect(day.troughUtcHour).toBe(4)
  })

  it('shifts with the offset and flattens over the seed regions', () => {
    expect(simulateDay([{name: 'east', share: 1, utcOffsetHours: 8}]).peakUtcHour).toBe(12)
    const single = simulateDay([{name: 'one', share: 1, utcOffsetHours: 0}])
    const global = simulateDay(parsePlanInputs({}).regions)
    expect(global.peakFactor).toBeLessThan(single.peakFactor)
    expect(global.peakFactor).toBeGreaterThan(1)
  })
})
