import {acquireLeases, ensureLeaseRows, releaseLeases} from '../../control-plane/leases.js'
import {liveWorkers} from '../../control-plane/node-registry.js'
import {assignPartitions} from '../../control-plane/partition-assignment.js'
import type {Logger} from '../../core/logger.js'
import type {Sql} from '../../core/ports.js'
import type {NodeConfig} from '../config.js'

// Keeps this worker's share of partitions leased: the share is decided by rendezvous hashing over the
// live workers, so every worker computes the same split without talking to the others.

export interface LeaseKeeper {
  start(): Promise<void>
  /** Releases every lease after handing each partition back. */
  stop(): Promise<void>
  /** Stops renewing without releasing (crash simulation): leases lapse after their TTL. */
  abandon(): Promise<void>
  held(): number[]
  /** Draining: want no partitions, hand back what is held on the next round. */
  setDraining(draining: boolean): void
}

export interface LeaseKeeperDeps {
  sql: Sql
  logger: Logger
  onAcquire(partition: number): Promise<void>
  onRelease(partition: number): Promise<void>
}

export function createLeaseKeeper(config: NodeConfig, deps: LeaseKeeperDeps): LeaseKeeper {
  const held = new Set<number>()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let active = true
  let draining = false
  const interval = Math.max(250, Math.floor(config.leaseTtlMs / 3))
  const livenessMs = Math.max(config.nodeHeartbeatMs * 3, 1500)

  async function tick(): Promise<void> {
    const workers = new Set(await liveWorkers(deps.sql, livenessMs))
    workers.add(config.nodeId)
    const mine = draining ? [] : (assignPartitions([...workers].sort(), config.partitions).get(config.nodeId) ?? [])
    const wanted = new Set(mine)
    // Hand back what is no longer ours before the new owner can take it.
    const giveUp = [...held].filter((p) => !wanted.has(p))
    for (const p of giveUp) {
      held.delete(p)
      await deps.onRelease(p)
    }
    await releaseLeases(deps.sql, config.nodeId, giveUp)
    const granted = new Set((await acquireLeases(deps.sql, config.nodeId, mine, config.leaseTtlMs)).map((l) => l.partition))
    for (const p of [...held]) {
      if (!granted.has(p)) {
        deps.logger.warn({partition: p}, 'lease lost; stopping the partition')
        held.delete(p)
        await deps.onRelease(p)
      }
    }
    const gained = [...granted].filter((p) => !held.has(p)).sort((a, b) => a - b)
    for (const p of gained) {
      held.add(p)
      await deps.onAcquire(p)
    }
    if (gained.length > 0 || giveUp.length > 0) {
      deps.logger.info({gained, released: giveUp, holding: held.size, workers: workers.size}, 'partition ownership changed')
    }
  }

  const loop = () => {
    if (!active) return
    running = tick()
      .catch((error) => deps.logger.error({err: error}, 'lease round failed; retrying'))
      .finally(() => {
        running = undefined
        if (active) timer = setTimeout(loop, interval)
      })
  }

  return {
    async start() {
      await ensureLeaseRows(deps.sql, config.partitions)
      await tick().catch((error) => deps.logger.error({err: error}, 'first lease round failed; retrying'))
      timer = setTimeout(loop, interval)
    },
    async stop() {
      active = false
      clearTimeout(timer)
      await running
      const all = [...held]
      held.clear()
      for (const p of all) await deps.onRelease(p)
      await releaseLeases(deps.sql, config.nodeId, all).catch((error) => deps.logger.warn({err: error}, 'could not release leases; they will lapse'))
    },
    async abandon() {
      active = false
      clearTimeout(timer)
      await running
      held.clear()
    },
    held: () => [...held].sort((a, b) => a - b),
    setDraining(value) {
      draining = value
      // Act now rather than at the next round: the other workers are waiting for these partitions.
      if (active && !running) {
        clearTimeout(timer)
        loop()
      }
    },
  }
}
