import {Box, Text} from 'ink'

import {formatRate} from './format.js'
import type {TopView} from './model.js'
import {sparkline} from './sparkline.js'

export interface TotalsProps {
  totals: TopView['totals']
  /** Messages stored per second of the last polls, oldest first. */
  history: readonly number[]
}

/** The cluster's connections, partition ownership and message rate, with the rate's recent history. */
export function Totals({totals, history}: TotalsProps) {
  const p = totals.partitions
  const peak = history.length > 0 ? Math.max(...history) : null
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        {`Totals: ${totals.connections} connections  partitions ${p.owned} owned, `}
        <Text color={p.unowned > 0 ? 'red' : undefined}>{`${p.unowned} unowned`}</Text>
        {p.expired > 0 ? <Text color="yellow">{`, ${p.expired} expired`}</Text> : ''}
        {`  ${formatRate(totals.storedPerSec)} msgs/s stored`}
      </Text>
      <Text wrap="truncate-end">
        {'msgs/s  '}
        <Text color="cyan">{sparkline(history)}</Text>
        {history.length > 0 ? `  peak ${formatRate(peak)} over the last ${history.length} ${history.length === 1 ? 'sample' : 'samples'}` : '  (measuring…)'}
      </Text>
    </Box>
  )
}

export const TOTALS_HEIGHT = 2
