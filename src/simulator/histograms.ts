import * as hdr from 'hdr-histogram-js'

// Latency histograms in microseconds, carried between processes as compressed base64 (exact to merge).

export type Histogram = hdr.Histogram

export function newHistogram(): Histogram {
  return hdr.build({lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3, autoResize: true})
}

/** Records a duration given in milliseconds (performance.now() differences). */
export function recordMs(histogram: Histogram, ms: number): void {
  histogram.recordValue(Math.max(1, Math.round(ms * 1000)))
}

export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram)
}

export function decodeHistogram(encoded: string): Histogram {
  if (!encoded) return newHistogram()
  const decoded = hdr.decodeFromCompressedBase64(encoded)
  // Decoded histograms keep the encoder's bounds; copy into an auto-resizing one so that adds never overflow.
  const h = newHistogram()
  h.add(decoded)
  return h
}

/** Adds encoded histograms exactly and returns the encoded sum. */
export function mergeEncoded(encoded: readonly (string | undefined)[]): string {
  const sum = newHistogram()
  for (const e of encoded) if (e) sum.add(decodeHistogram(e))
  return encodeHistogram(sum)
}

export interface LatencySummaryMs {
  count: number
  p50: number
  p95: number
  p99: number
  p999: number
  max: number
  mean: number
}

export function summarize(histogram: Histogram): LatencySummaryMs {
  const ms = (us: number) => Math.round(us) / 1000
  if (histogram.totalCount === 0) return {count: 0, p50: 0, p95: 0, p99: 0, p999: 0, max: 0, mean: 0}
  return {
    count: histogram.totalCount,
    p50: ms(histogram.getValueAtPercentile(50)),
    p95: ms(histogram.getValueAtPercentile(95)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.maxValue),
    mean: ms(histogram.mean),
  }
}
