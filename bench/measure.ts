import * as hdr from 'hdr-histogram-js'

// Timing primitives shared by every benchmark: bounded runs, progress lines, latency percentiles.

export interface Bounds {
  /** Stop after this many units of work (rows, ops, plans)... */
  maxCount: number
  /** ...or after this long, whichever comes first. */
  maxMs: number
}

export interface RunResult {
  count: number
  elapsedMs: number
  perSecond: number
  /** Rate over the last second or so: well below perSecond means the work slows as the run goes on. */
  tailPerSecond: number
  /** Why the run stopped: it did all the work asked, or it ran out of time. */
  stoppedBy: 'count' | 'time'
  latency?: LatencySummary
}

export interface LatencySummary {
  unit: 'ms'
  /** What one sample is: one INSERT, one batch... */
  per: string
  samples: number
  p50: number
  p90: number
  p99: number
  max: number
}

/**
 * Runs `step` until the bounds are hit. `step` does some work, returns how many units it did, and is
 * timed as one latency sample. Prints a progress line about once a second.
 */
export async function runBounded(
  label: string,
  bounds: Bounds,
  step: (remaining: number) => Promise<number> | number,
  options: {latencyPer?: string; unit?: string} = {},
): Promise<RunResult> {
  const histogram = options.latencyPer ? hdr.build({lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3}) : undefined
  const unit = options.unit ?? 'ops'
  const started = performance.now()
  let lastProgress = started
  let count = 0
  let now = started
  // (time, count) at each progress tick, for the tail rate.
  const marks = [{at: started, count: 0}]
  while (count < bounds.maxCount && now - started < bounds.maxMs) {
    const t0 = performance.now()
    count += await step(bounds.maxCount - count)
    now = performance.now()
    // Microseconds, so sub-millisecond samples keep their resolution.
    histogram?.recordValue(Math.max(1, Math.round((now - t0) * 1000)))
    if (now - lastProgress >= 1000) {
      lastProgress = now
      marks.push({at: now, count})
      progress(`${label}: ${fmtInt(count)} ${unit} in ${((now - started) / 1000).toFixed(1)} s (${fmtInt((count * 1000) / (now - started))} ${unit}/s)`)
    }
  }
  const elapsedMs = now - started
  const mark = marks.findLast((m) => now - m.at >= 1000) ?? marks[0]!
  const result: RunResult = {
    count,
    elapsedMs: round(elapsedMs, 1),
    perSecond: round((count * 1000) / elapsedMs, 1),
    tailPerSecond: round(((count - mark.count) * 1000) / (now - mark.at), 1),
    stoppedBy: count >= bounds.maxCount ? 'count' : 'time',
  }
  if (histogram && options.latencyPer) {
    const ms = (us: number) => round(us / 1000, 3)
    result.latency = {
      unit: 'ms',
      per: options.latencyPer,
      samples: histogram.totalCount,
      p50: ms(histogram.getValueAtPercentile(50)),
      p90: ms(histogram.getValueAtPercentile(90)),
      p99: ms(histogram.getValueAtPercentile(99)),
      max: ms(histogram.maxValue),
    }
    histogram.destroy()
  }
  return result
}

export interface Comparison {
  baseline: number
  subject: number
  /** subject / baseline: above 1 means the subject does more per second. */
  ratio: number
  rounds: number
}

/**
 * Ops/s of two synchronous functions, measured in alternating rounds so drift (thermal, GC, other
 * load) hits both alike; the median round of each is kept.
 */
export function compareSync(label: string, baseline: () => unknown, subject: () => unknown, options: {rounds?: number; roundMs?: number} = {}): Comparison {
  const rounds = options.rounds ?? 5
  const roundMs = options.roundMs ?? 200
  opsPerSecond(baseline, 50)
  opsPerSecond(subject, 50)
  const b: number[] = []
  const s: number[] = []
  for (let i = 0; i < rounds; i++) {
    collectGarbage()
    b.push(opsPerSecond(baseline, roundMs))
    collectGarbage()
    s.push(opsPerSecond(subject, roundMs))
  }
  progress(`${label}: ${rounds} rounds, baseline ${b.map(fmtInt).join(' ')} /s; subject ${s.map(fmtInt).join(' ')} /s`)
  const baselineOps = median(b)
  const subjectOps = median(s)
  return {baseline: round(baselineOps, 1), subject: round(subjectOps, 1), ratio: round(subjectOps / baselineOps, 3), rounds}
}

/** Calls `fn` in chunks until `ms` have passed; returns calls per second. Results are checked, so the JIT keeps the work. */
export function opsPerSecond(fn: () => unknown, ms: number): number {
  let calls = 0
  let chunk = 16
  const started = performance.now()
  let elapsed = 0
  while (elapsed < ms) {
    for (let i = 0; i < chunk; i++) if (fn() === undefined) throw new Error('a benchmarked function must return its result')
    calls += chunk
    elapsed = performance.now() - started
    // Grow chunks so the clock is read rarely, but never let one chunk run much past the deadline.
    if (elapsed < ms / 20) chunk *= 2
  }
  return (calls * 1000) / elapsed
}

export function collectGarbage(): void {
  ;(globalThis as {gc?: () => void}).gc?.()
}

export function progress(line: string): void {
  process.stderr.write(`  … ${line}\n`)
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

export function fmtInt(value: number): string {
  return Math.round(value).toLocaleString('en-US')
}

export function fmtRatio(value: number): string {
  return value >= 10 ? `${value.toFixed(1)}×` : `${value.toFixed(2)}×`
}
