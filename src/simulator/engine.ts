import {runSliceInProcess} from './slice-run.js'
import type {Progress, SliceResult, SliceSpec} from './types.js'

// The simulator's entry points: run one slice of virtual clients in this process, merge slice results.

export {mergeResults} from './merge.js'

export interface SliceHooks {
  /** About once a second, and once at the end. */
  onProgress?(progress: Progress): void
  /** Aborting ends the traffic early; the slice still settles, syncs, audits and resolves. */
  signal?: AbortSignal
}

/**
 * Runs a slice: logs its users in, opens their devices' sockets over the ramp-up, sends the scenario's
 * traffic among them, waits for deliveries, syncs every device and audits every acknowledged message.
 */
export function runSlice(spec: SliceSpec, hooks: SliceHooks = {}): Promise<SliceResult> {
  return runSliceInProcess(spec, hooks)
}
