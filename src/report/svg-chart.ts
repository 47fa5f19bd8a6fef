// Standalone SVG charts (no dependencies) for reports: a line chart and a bar chart with axes, ticks and a legend.

export interface LineSeries {
  name: string
  points: [number, number][]
}

export interface LineChartOptions {
  title: string
  xLabel: string
  yLabel: string
  series: LineSeries[]
  width?: number
  height?: number
}

export interface BarChartOptions {
  title: string
  yLabel: string
  bars: {label: string; value: number}[]
  width?: number
  height?: number
}

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563']
const MARGIN = {top: 40, right: 20, bottom: 50, left: 70}
const LEGEND_ROW = 18

export function renderLineChart(options: LineChartOptions): string {
  const width = options.width ?? 800
  const legendHeight = LEGEND_ROW * Math.ceil(options.series.length / 3)
  const height = (options.height ?? 400) + legendHeight
  const plot = {x: MARGIN.left, y: MARGIN.top, w: width - MARGIN.left - MARGIN.right, h: height - MARGIN.top - MARGIN.bottom - legendHeight}
  const all = options.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
  const xTicks = niceTicks(minOf(all.map((p) => p[0]), 0), maxOf(all.map((p) => p[0]), 1))
  const yTicks = niceTicks(Math.min(0, minOf(all.map((p) => p[1]), 0)), maxOf(all.map((p) => p[1]), 1))
  const sx = scale(xTicks[0]!, xTicks.at(-1)!, plot.x, plot.x + plot.w)
  const sy = scale(yTicks[0]!, yTicks.at(-1)!, plot.y + plot.h, plot.y)

  const lines = options.series.map((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
    const color = PALETTE[i % PALETTE.length]!
    if (pts.length === 1) return `<circle cx="${f(sx(pts[0]![0]))}" cy="${f(sy(pts[0]![1]))}" r="3" fill="${color}"/>`
    const d = pts.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${f(sx(x))},${f(sy(y))}`).join(' ')
    return `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8" stroke-linejoin="round"/>`
  })
  const legend = options.series.map((s, i) => {
    const lx = plot.x + (i % 3) * Math.floor(plot.w / 3)
    // Below the x-axis label (which sits 36 px under the plot).
    const ly = plot.y + plot.h + 56 + Math.floor(i / 3) * LEGEND_ROW
    const color = PALETTE[i % PALETTE.length]!
    return `<rect x="${lx}" y="${ly - 9}" width="14" height="4" fill="${color}"/><text x="${lx + 20}" y="${ly}">${esc(s.name)}</text>`
  })
  return document(width, height, options.title, [
    ...grid(plot, xTicks, yTicks, sx, sy),
    axes(plot),
    axisLabels(plot, options.xLabel, options.yLabel),
    ...(all.length === 0 ? [`<text x="${plot.x + plot.w / 2}" y="${plot.y + plot.h / 2}" text-anchor="middle" fill="#6b7280">no data</text>`] : []),
    ...lines,
    ...legend,
  ])
}

export function renderBarChart(options: BarChartOptions): string {
  const width = options.width ?? 800
  const height = options.height ?? 400
  const plot = {x: MARGIN.left, y: MARGIN.top, w: width - MARGIN.left - MARGIN.right, h: height - MARGIN.top - MARGIN.bottom}
  const values = options.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0))
  const yTicks = niceTicks(Math.min(0, minOf(values, 0)), maxOf(values, 1))
  const sy = scale(yTicks[0]!, yTicks.at(-1)!, plot.y + plot.h, plot.y)
  const slot = plot.w / Math.max(1, options.bars.length)
  const barWidth = Math.max(1, slot * 0.7)
  const zero = sy(0)
  const bars = options.bars.map((b, i) => {
    const v = values[i]!
    const x = plot.x + i * slot + (slot - barWidth) / 2
    const top = Math.min(sy(v), zero)
    const h = Math.abs(sy(v) - zero)
    const color = PALETTE[i % PALETTE.length]!
    return (
      `<rect x="${f(x)}" y="${f(top)}" width="${f(barWidth)}" height="${f(h)}" fill="${color}"><title>${esc(b.label)}: ${formatTick(v)}</title></rect>` +
      `<text x="${f(x + barWidth / 2)}" y="${f(top - 4)}" text-anchor="middle">${formatTick(v)}</text>` +
      `<text x="${f(x + barWidth / 2)}" y="${plot.y + plot.h + 16}" text-anchor="middle">${esc(b.label)}</text>`
    )
  })
  const yGrid = yTicks.map(
    (t) =>
      `<line x1="${plot.x}" x2="${plot.x + plot.w}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e5e7eb"/>` +
      `<text x="${plot.x - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${formatTick(t)}</text>`,
  )
  return document(width, height, options.title, [...yGrid, axes(plot), axisLabels(plot, '', options.yLabel), ...bars])
}

/** Round tick values covering [lo, hi] (about 5 of them: 1, 2 or 5 times a power of ten apart). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1
  const raw = (hi - lo) / count
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude
  const start = Math.floor(lo / step) * step
  const ticks: number[] = []
  for (let t = start; t < hi + step * 0.999; t += step) ticks.push(Number(t.toPrecision(12)))
  return ticks
}

function grid(plot: Plot, xTicks: number[], yTicks: number[], sx: (v: number) => number, sy: (v: number) => number): string[] {
  return [
    ...xTicks.map(
      (t) =>
        `<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${plot.y}" y2="${plot.y + plot.h}" stroke="#f3f4f6"/>` +
        `<text x="${f(sx(t))}" y="${plot.y + plot.h + 16}" text-anchor="middle">${formatTick(t)}</text>`,
    ),
    ...yTicks.map(
      (t) =>
        `<line x1="${plot.x}" x2="${plot.x + plot.w}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e5e7eb"/>` +
        `<text x="${plot.x - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${formatTick(t)}</text>`,
    ),
  ]
}

interface Plot {
  x: number
  y: number
  w: number
  h: number
}

function axes(plot: Plot): string {
  return `<path d="M${plot.x},${plot.y} L${plot.x},${plot.y + plot.h} L${plot.x + plot.w},${plot.y + plot.h}" fill="none" stroke="#111827"/>`
}

function axisLabels(plot: Plot, xLabel: string, yLabel: string): string {
  const cy = plot.y + plot.h / 2
  return (
    (xLabel ? `<text x="${plot.x + plot.w / 2}" y="${plot.y + plot.h + 36}" text-anchor="middle">${esc(xLabel)}</text>` : '') +
    `<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})">${esc(yLabel)}</text>`
  )
}

function document(width: number, height: number, title: string, body: string[]): string {
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11" fill="#111827">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`,
    ...body,
    `</svg>`,
    '',
  ].join('\n')
}

function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0 || 1
  return (v) => r0 + ((v - d0) / span) * (r1 - r0)
}

function formatTick(v: number): string {
  const a = Math.abs(v)
  if (a >= 1e9) return `${trim(v / 1e9)}G`
  if (a >= 1e6) return `${trim(v / 1e6)}M`
  if (a >= 1e4) return `${trim(v / 1e3)}k`
  return trim(v)
}

function trim(v: number): string {
  return String(Number(v.toPrecision(4)))
}

function f(v: number): string {
  return Number.isFinite(v) ? String(Math.round(v * 10) / 10) : '0'
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function minOf(values: number[], fallback: number): number {
  return values.length ? values.reduce((a, b) => Math.min(a, b), Infinity) : fallback
}

function maxOf(values: number[], fallback: number): number {
  return values.length ? values.reduce((a, b) => Math.max(a, b), -Infinity) : fallback
}
