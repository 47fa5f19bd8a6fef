import {Box, renderToString, Text} from 'ink'

import {Header, headerHeight} from './header.js'
import type {TopView} from './model.js'
import {NodesTable} from './nodes-table.js'
import {Totals, TOTALS_HEIGHT} from './totals.js'

export interface DashboardProps {
  view: TopView
  url?: string
  intervalMs?: number
  /** Why the last refresh failed (the view is then the one before). */
  error?: string
  /** Screen lines available; the node table is cut to fit. */
  height?: number
  /** Key help, e.g. "q quit"; none in a one-shot snapshot. */
  help?: string
}

/** The whole `msgr top` screen: header, nodes, totals, key help. */
export function Dashboard({view, url, intervalMs, error, height, help}: DashboardProps) {
  // Header, a blank line, the table's title row, a blank line, totals, and help with its blank line.
  const fixed = headerHeight({cluster: view.cluster, error}) + 1 + 1 + 1 + TOTALS_HEIGHT + (help ? 2 : 0)
  // Stay a line short of the screen: Ink redraws the whole terminal once its output fills it.
  const maxRows = height === undefined ? undefined : Math.max(1, height - fixed - 1)
  return (
    <Box flexDirection="column">
      <Header cluster={view.cluster} at={view.at} url={url} intervalMs={intervalMs} error={error} />
      <Box marginTop={1}>
        <NodesTable rows={view.nodes} maxRows={maxRows} />
      </Box>
      <Box marginTop={1}>
        <Totals totals={view.totals} history={view.history} />
      </Box>
      {help && (
        <Box marginTop={1}>
          <Text dimColor>{help}</Text>
        </Box>
      )}
    </Box>
  )
}

/** The dashboard once, as text (colours only when stdout supports them): `msgr top` when not on a terminal. */
export function dashboardText(props: Omit<DashboardProps, 'height' | 'help'>, columns: number): string {
  return renderToString(<Dashboard {...props} />, {columns})
}
