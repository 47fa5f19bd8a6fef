import {Box, Text} from 'ink'

import {canaryLine} from '../canary-format.js'
import {clockTime, formatInterval} from './format.js'
import type {TopView} from './model.js'

export interface HeaderProps {
  cluster: TopView['cluster']
  at: string
  url?: string
  intervalMs?: number
  /** Why the last refresh failed; the data shown is then from `at`. */
  error?: string
}

/** Cluster readiness, problems and warnings as GET /v1/admin/status reports them. */
export function Header({cluster, at, url, intervalMs, error}: HeaderProps) {
  const refresh = intervalMs === undefined ? '' : `, every ${formatInterval(intervalMs)}`
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text bold>msgr top</Text>
        {url ? `  ${url}` : ''}
        {'  cluster '}
        <Text bold color={cluster.ready ? 'green' : 'red'}>
          {cluster.ready ? 'READY' : 'NOT READY'}
        </Text>
        {`  ${cluster.nodes.alive}/${cluster.nodes.total} nodes alive  (${clockTime(at)}${refresh})`}
      </Text>
      <Text wrap="truncate-end">
        {'Problems: '}
        {cluster.problems.length === 0 ? <Text color="green">none</Text> : <Text color="red">{cluster.problems.join('; ')}</Text>}
      </Text>
      {cluster.warnings.length > 0 && (
        <Text wrap="truncate-end">
          {'Warnings: '}
          <Text color="yellow">{cluster.warnings.join('; ')}</Text>
        </Text>
      )}
      {cluster.canary && <Text wrap="truncate-end">{`Canary:   ${canaryLine(cluster.canary)}`}</Text>}
      {error !== undefined && (
        <Text color="red" wrap="truncate-end">
          {`refresh failed, showing ${clockTime(at)}: ${error}`}
        </Text>
      )}
    </Box>
  )
}

/** Lines the header takes, so the dashboard can fit the node table in the rest of the screen. */
export function headerHeight({cluster, error}: Pick<HeaderProps, 'cluster' | 'error'>): number {
  return 2 + (cluster.warnings.length > 0 ? 1 : 0) + (cluster.canary ? 1 : 0) + (error !== undefined ? 1 : 0)
}
