// A one-line chart of recent values, like `spark` and htop's graph meters.

const BARS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'] as const

/** One bar per value, scaled from 0 to the largest value shown; all-zero input is a flat baseline. */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values)
  return values
    .map((v) => {
      if (!(max > 0) || !(v > 0)) return BARS[0]
      return BARS[Math.min(BARS.length - 1, Math.ceil((v / max) * BARS.length) - 1)]
    })
    .join('')
}
