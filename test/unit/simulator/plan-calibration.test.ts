import {describe, expect, it} from 'vitest'

import {calibrationFromReport, DEFAULT_CALIBRATION} from '../../../src/simulator/plan/calibration.js'

// Per-unit costs from a measured report.json.

const report = {
  version: 1,
  runId: 'r1',
  counters: {sent: 20_000, deliveredEvents: 100_000, bytesReceived: 40e6, bytesSent: 6e6, connects: 1000, mediaUploads: 0},
  resources: {
    client: {rssBytesPeak: 400e6, heapUsedBytesPeak: 1, cpuUserMs: 1, cpuSystemMs: 1, connectionsPeak: 10_000},
    server: {cpuSeconds: 12, rssBytes: 3e8, cpuMsPerMessage: 0.6, rssBytesPerConnection: 30_000},
  },
}

describe('calibrationFromReport', () => {
  it('takes memory, CPU and wire bytes from a simulator result', () => {
    const c = calibrationFromReport(report, 'report.json')
    expect(c.figures.bytesPerConnection).toBe(30_000)
    expect(c.figures.cpuMsPerDelivery).toBeCloseTo(0.12, 10) // 12 s ÷ 100k deliveries
    expect(c.figures.wireBytesPerDelivery).toBe(400)
    expect(c.figures.wireBytesPerSend).toBe(300)
    expect(c.figures.agentBytesPerClient).toBe(40_000)
    expect(c.sources.bytesPerConnection).toMatch(/^report\.json: /)
    // Not in a result: kept, with the default's source.
    expect(c.figures.storedBytesPerMessage).toBe(DEFAULT_CALIBRATION.figures.storedBytesPerMessage)
    expect(c.sources.storedBytesPerMessage).toBe(DEFAULT_CALIBRATION.sources.storedBytesPerMessage)
  })

  it('finds the result under "result" and applies an explicit calibration object last', () => {
    const c = calibrationFromReport({result: report, calibration: {storedBytesPerMessage: 512, bytesPerConnection: 20_000}}, 'sim-100k.json')
    expect(c.figures.storedBytesPerMessage).toBe(512)
    expect(c.figures.bytesPerConnection).toBe(20_000)
    expect(c.figures.cpuMsPerDelivery).toBeCloseTo(0.12, 10)
    expect(c.sources.storedBytesPerMessage).toBe('sim-100k.json: calibration.storedBytesPerMessage')
  })

  it('takes nothing from a run too small to say anything', () => {
    const tiny = {...report, counters: {...report.counters, deliveredEvents: 282, connects: 20}, resources: {...report.resources, client: {...report.resources.client, connectionsPeak: 20}}}
    expect(calibrationFromReport(tiny, 't.json').figures).toEqual(DEFAULT_CALIBRATION.figures)
  })

  it('takes no send bytes from a run with media uploads', () => {
    const media = {...report, counters: {...report.counters, mediaUploads: 30}}
    const c = calibrationFromReport(media, 'm.json')
    expect(c.figures.wireBytesPerSend).toBe(DEFAULT_CALIBRATION.figures.wireBytesPerSend)
    expect(c.figures.wireBytesPerDelivery).toBe(400)
  })

  it('takes no bytes per message from a run dominated by connects and syncs', () => {
    const setupHeavy = {...report, counters: {...report.counters, connects: 50_000}}
    const c = calibrationFromReport(setupHeavy, 'r.json')
    expect(c.figures.wireBytesPerDelivery).toBe(DEFAULT_CALIBRATION.figures.wireBytesPerDelivery)
    expect(c.figures.wireBytesPerSend).toBe(DEFAULT_CALIBRATION.figures.wireBytesPerSend)
    expect(c.figures.bytesPerConnection).toBe(30_000)
  })

  it('ignores figures a run could not measure (no server metrics, no deliveries)', () => {
    const c = calibrationFromReport({counters: {sent: 0, deliveredEvents: 0, bytesReceived: 0, bytesSent: 0}, resources: {client: {rssBytesPeak: 0, connectionsPeak: 0}}}, 'empty.json')
    expect(c.figures).toEqual(DEFAULT_CALIBRATION.figures)
  })

  it('rejects files that are not reports, and bad figures, naming the file', () => {
    expect(() => calibrationFromReport([1, 2], 'x.json')).toThrow(/x\.json: neither a simulator result/)
    expect(() => calibrationFromReport('text', 'x.json')).toThrow(/x\.json: not a JSON object/)
    expect(() => calibrationFromReport({calibration: {bytesPerConnection: -1}}, 'y.json')).toThrow(/y\.json: calibration: bytesPerConnection/)
  })
})
