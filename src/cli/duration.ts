// Durations as operators type them (kubectl, nomad): "90", "90s", "2m", "1m30s", "1h", "500ms".

const UNITS_MS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000}

/** Milliseconds in `text`; a bare number is seconds. Throws with an example when it is not a duration. */
export function parseDuration(text: string): number {
  const input = text.trim().toLowerCase()
  if (/^\d+(\.\d+)?$/.test(input)) return Math.round(Number(input) * 1000)
  const parts = [...input.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== input) {
    throw new Error(`"${text}" is not a duration; use e.g. 60s, 2m, 1m30s or 1h`)
  }
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNITS_MS[p[2]!]!, 0))
}

/** A short human form of `seconds`: 42s, 3m05s, 2h14m, 3d4h. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}
