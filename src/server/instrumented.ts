import type {Bus, Sql} from '../core/ports.js'
import {MsgrError} from '../errors.js'
import type {Metrics} from './metrics.js'

// The node's Sql and Bus, counting their failures (msgr_db_errors_total, msgr_bus_errors_total). A coded
// MsgrError is a verdict of the caller's own logic, not a failure of the service, and is not counted.

export function instrumentSql(sql: Sql, metrics: Metrics): Sql {
  const count = <T>(op: string, run: () => Promise<T>): Promise<T> =>
    run().catch((error: unknown) => {
      if (!(error instanceof MsgrError)) metrics.dbErrors.inc({op})
      throw error
    })
  return {
    kind: sql.kind,
    query: (text, params) => count('query', () => sql.query(text, params)),
    exec: (script) => count('exec', () => sql.exec(script)),
    transaction: (fn) => count('transaction', () => sql.transaction(fn)),
    close: () => sql.close(),
  }
}

export function instrumentBus(bus: Bus, metrics: Metrics): Bus {
  return {
    kind: bus.kind,
    publishIngest(partition, data) {
      let published: Promise<void>
      try {
        published = bus.publishIngest(partition, data)
      } catch (error) {
        metrics.busErrors.inc({op: 'publish_ingest'})
        throw error
      }
      return published.catch((error: unknown) => {
        metrics.busErrors.inc({op: 'publish_ingest'})
        throw error
      })
    },
    consumeIngest: (partition, onMessage) =>
      bus.consumeIngest(partition, onMessage).catch((error: unknown) => {
        metrics.busErrors.inc({op: 'consume_ingest'})
        throw error
      }),
    publishNode(nodeId, data) {
      try {
        bus.publishNode(nodeId, data)
      } catch (error) {
        metrics.busErrors.inc({op: 'publish_node'})
        throw error
      }
    },
    subscribeNode: (nodeId, onMessage) => bus.subscribeNode(nodeId, onMessage),
    flush: () => bus.flush(),
    healthy: () => bus.healthy(),
    close: () => bus.close(),
  }
}
