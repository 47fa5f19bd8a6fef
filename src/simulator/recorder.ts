import {encodeHistogram, type Histogram, newHistogram, recordMs, summarize} from './histograms.js'
import type {SliceCounters, TimelineBucket} from './types.js'

// Measurements of one slice: latency histograms, counters, errors by code and a per-second timeline.

export function emptyCounters(): SliceCounters {
  return {
    sent: 0,
    acked: 0,
    sendErrors: 0,
    deliveredEvents: 0,
    connects: 0,
    connectErrors: 0,
    disconnects: 0,
    reconnects: 0,
    syncRequests: 0,
    typingSent: 0,
    typingReceived: 0,
    receiptsSent: 0,
    receiptsReceived: 0,
    mediaUploads: 0,
    mediaMessages: 0,
    groupsCreated: 0,
    directConversations: 0,
    rateLimited: 0,
    skipped: 0,
    bytesSent: 0,
    bytesReceived: 0,
  }
}

export class Recorder {
  readonly delivery = newHistogram()
  readonly ack = newHistogram()
  readonly connect = newHistogram()
  readonly counters = emptyCounters()
  readonly errorsByCode: Record<string, number> = {}
  readonly timeline: TimelineBucket[] = []
  private second: {at: number; sent: number; acked: number; delivered: number; errors: number; delivery: Histogram; ack: Histogram}

  constructor(private readonly now: () => number = Date.now) {
    this.second = this.freshSecond()
  }

  error(code: string): void {
    this.errorsByCode[code] = (this.errorsByCode[code] ?? 0) + 1
    this.second.errors++
    if (code === 'rate_limited') this.counters.rateLimited++
  }

  sent(): void {
    this.counters.sent++
    this.second.sent++
  }

  acked(ms: number): void {
    this.counters.acked++
    this.second.acked++
    recordMs(this.ack, ms)
    recordMs(this.second.ack, ms)
  }

  delivered(ms: number): void {
    this.second.delivered++
    recordMs(this.delivery, ms)
    recordMs(this.second.delivery, ms)
  }

  connected(ms: number): void {
    this.counters.connects++
    recordMs(this.connect, ms)
  }

  /** Closes the current second into the timeline; returns its figures for progress. */
  tick(connections: number): {ackRate: number; deliveryP50Ms?: number; deliveryP99Ms?: number; ackP99Ms?: number} {
    const s = this.second
    const delivery = summarize(s.delivery)
    const ack = summarize(s.ack)
    this.timeline.push({
      at: s.at,
      sent: s.sent,
      acked: s.acked,
      delivered: s.delivered,
      errors: s.errors,
      connections,
      ...(delivery.count > 0 ? {delivery: encodeHistogram(s.delivery)} : {}),
    })
    this.second = this.freshSecond()
    return {
      ackRate: s.acked,
      ...(delivery.count > 0 ? {deliveryP50Ms: delivery.p50, deliveryP99Ms: delivery.p99} : {}),
      ...(ack.count > 0 ? {ackP99Ms: ack.p99} : {}),
    }
  }

  private freshSecond() {
    return {at: Math.floor(this.now() / 1000), sent: 0, acked: 0, delivered: 0, errors: 0, delivery: newHistogram(), ack: newHistogram()}
  }
}
