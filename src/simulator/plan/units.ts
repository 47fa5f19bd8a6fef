// Human forms of the plan's figures, in decimal (SI) units as the seed writes them (500 GB, 10 PB).

export function count(n: number): string {
  const abs = Math.abs(n)
  if (abs >= 1e12) return `${trim(n / 1e12)}T`
  if (abs >= 1e9) return `${trim(n / 1e9)}B`
  if (abs >= 1e6) return `${trim(n / 1e6)}M`
  if (abs >= 1e4) return `${trim(n / 1e3)}k`
  return trim(n)
}

export function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB', 'EB']
  let value = n
  let unit = 0
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${trim(value)} ${units[unit]}`
}

export function gbps(n: number): string {
  return `${trim(n)} Gbps`
}

export function ratio(model: number, seed: number): string {
  if (seed === 0) return 'n/a'
  const r = model / seed
  return r >= 0.995 && r <= 1.005 ? '1×' : `${trim(r)}×`
}

/** Three significant digits, no trailing zeros. */
export function trim(n: number): string {
  if (n === 0) return '0'
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : Math.abs(n) >= 1 ? 2 : 3
  return Number(n.toFixed(digits)).toLocaleString('en-US', {maximumFractionDigits: digits})
}
