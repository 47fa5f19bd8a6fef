// Numbers as the dashboard shows them; '-' for what is not known (yet) or does not apply.

export function formatPercent(value: number | null): string {
  return value === null ? '-' : value.toFixed(1)
}

/** 0, 0.4, 12.5, 950, 1.2k, 35k, 1.1M */
export function formatRate(value: number | null): string {
  if (value === null) return '-'
  if (value === 0) return '0'
  if (value < 100) return String(Math.round(value * 10) / 10)
  if (value < 1000) return String(Math.round(value))
  if (value < 1e6) return `${value < 1e4 ? (value / 1e3).toFixed(1) : Math.round(value / 1e3)}k`
  return `${(value / 1e6).toFixed(1)}M`
}

/** HH:MM:SS on this machine's clock. */
export function clockTime(iso: string): string {
  const d = new Date(iso)
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':')
}

export function formatInterval(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}
