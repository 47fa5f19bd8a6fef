import {Box, Text} from 'ink'

import {formatBytes} from '../admin-format.js'
import {formatDuration} from '../duration.js'
import {formatPercent} from './format.js'
import type {TopNodeRow} from './model.js'

const COLUMNS = [
  {title: 'ID', right: false},
  {title: 'ROLE', right: false},
  {title: 'STATE', right: false},
  {title: 'ALIVE', right: false},
  {title: 'CONNS', right: true},
  {title: 'PARTS', right: true},
  {title: 'CPU%', right: true},
  {title: 'MEM', right: true},
  {title: 'UPTIME', right: true},
  {title: 'VERSION', right: false},
] as const

export interface NodesTableProps {
  rows: readonly TopNodeRow[]
  /** Node rows that fit; the rest are counted in a last line. */
  maxRows?: number
}

/** One line per node; draining nodes in yellow with their state in capitals, dead ones in red. */
export function NodesTable({rows, maxRows}: NodesTableProps) {
  if (rows.length === 0) return <Text dimColor>no nodes have registered</Text>
  const cells = rows.map(nodeCells)
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i]!.length)))
  const fit = maxRows === undefined || rows.length <= maxRows ? rows.length : Math.max(0, maxRows - 1)
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        {line(
          COLUMNS.map((c) => c.title),
          widths,
        )}
      </Text>
      {rows.slice(0, fit).map((row, i) => (
        <Text key={row.id} wrap="truncate-end" color={row.draining ? 'yellow' : row.alive ? undefined : 'red'} bold={row.draining} dimColor={row.state === 'stopped'}>
          {line(cells[i]!, widths)}
        </Text>
      ))}
      {fit < rows.length && <Text dimColor>{`… ${rows.length - fit} more (enlarge the terminal)`}</Text>}
    </Box>
  )
}

function nodeCells(row: TopNodeRow): string[] {
  return [
    row.id,
    row.role,
    row.draining ? row.state.toUpperCase() : row.state,
    row.alive ? 'yes' : `no (${formatDuration(row.lastSeenSec)})`,
    row.connections === null ? '-' : String(row.connections),
    row.partitions === null ? '-' : String(row.partitions),
    formatPercent(row.cpuPercent),
    row.rssBytes === null ? '-' : formatBytes(row.rssBytes),
    row.uptimeSec === null ? '-' : formatDuration(row.uptimeSec),
    row.version,
  ]
}

function line(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => (COLUMNS[i]!.right ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
    .join('  ')
}
