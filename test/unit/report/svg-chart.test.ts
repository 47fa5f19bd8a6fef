import {describe, expect, it} from 'vitest'

import {niceTicks, renderBarChart, renderLineChart} from '../../../src/report/svg-chart.js'

describe('svg charts', () => {
  it('renders a standalone line chart with axes, ticks, one path per series and a legend', () => {
    const svg = renderLineChart({
      title: 'Latency <p99>',
      xLabel: 'seconds',
      yLabel: 'ms',
      series: [
        {name: 'p50', points: [[0, 1], [1, 2], [2, 3]]},
        {name: 'p99', points: [[0, 10], [1, 40], [2, 25]]},
      ],
    })
    expect(svg.startsWith('<?xml')).toBe(true)
    expect(svg).toContain('<svg xmlns="http://www.w3.org/2000/svg"')
    expect(svg.trim().endsWith('</svg>')).toBe(true)
    expect(svg).toContain('Latency &lt;p99&gt;') // escaped
    expect(svg.match(/<path d="M[^"]*" fill="none" stroke="#[0-9a-f]+" stroke-width/g)).toHaveLength(2)
    expect(svg).toContain('>p50</text>')
    expect(svg).toContain('>p99</text>')
    expect(svg).toContain('>40</text>') // a y tick at the top value
    expect(svg).not.toMatch(/NaN|undefined|Infinity/)
  })

  it('draws an empty chart without data and ignores non-finite points', () => {
    const svg = renderLineChart({title: 't', xLabel: 'x', yLabel: 'y', series: [{name: 's', points: [[0, Number.NaN]]}]})
    expect(svg).toContain('no data')
    expect(svg).not.toMatch(/NaN|Infinity/)
  })

  it('renders bars with labels and values', () => {
    const svg = renderBarChart({title: 'p', yLabel: 'ms', bars: [{label: 'p50', value: 12}, {label: 'p99', value: 180}]})
    expect(svg.match(/<rect x=/g)).toHaveLength(2)
    expect(svg).toContain('>p99</text>')
    expect(svg).toContain('>180</text>')
    expect(svg).not.toMatch(/NaN|undefined/)
  })

  it('picks round ticks covering the range', () => {
    expect(niceTicks(0, 97)).toEqual([0, 20, 40, 60, 80, 100])
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1])
    expect(niceTicks(5, 5)).toEqual([5, 5.2, 5.4, 5.6, 5.8, 6])
  })
})
