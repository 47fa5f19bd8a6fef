import {mkdirSync} from 'node:fs'
import {createRequire} from 'node:module'
import {Worker} from 'node:worker_threads'

import type {QueryResult, Sql, SqlTx} from '../../core/ports.js'

export interface PgliteOptions {
  /** A directory for the database files, or undefined for an in-memory database. */
  dataDir?: string
}

// Embedded Postgres (WASM) for `msgr serve all`: same SQL as the Postgres adapter, one connection. The
// database runs on its own worker thread, as Postgres runs in its own process: its CPU (≈ 40% of a busy
// `serve all`) no longer competes with the sockets on the event loop. Each call is one message each way;
// a transaction holds PGlite's own transaction lock from `begin` to `end`, so calls outside it wait, as
// they did in-process.

type Op = 'query' | 'exec' | 'begin' | 'txQuery' | 'txExec' | 'end' | 'close'
type Reply = [id: number, ok: true, value: unknown] | [id: number, ok: false, error: SerializedError]
interface SerializedError {
  message: string
  /** The error's own fields: `code` (SQLSTATE), `detail`, `constraint`… */
  fields: Record<string, unknown>
}

// Plain JavaScript, evaluated by the worker (a file would need a build step under the test runner). `require`
// of PGlite's CommonJS build, resolved by the main thread so that it does not depend on the working directory.
const THREAD_SOURCE = `
const {parentPort, workerData} = require('node:worker_threads')
const {PGlite, types} = require(workerData.pglite)
const txs = new Map()
const reply = (id, ok, value) => parentPort.postMessage([id, ok, value])
const fail = (id, error) => {
  const fields = {}
  for (const [key, value] of Object.entries(error ?? {})) if (typeof value !== 'object' && typeof value !== 'function') fields[key] = value
  reply(id, false, {message: String(error?.message ?? error), fields})
}
const result = (r) => ({rows: r.rows, rowCount: r.affectedRows || r.rows.length})
const ready = PGlite.create({dataDir: workerData.dataDir, parsers: {[types.INT8]: (value) => Number(value)}})
ready.then(() => reply(0, true, null), (error) => fail(0, error))
parentPort.on('message', async ([id, op, a, b, c]) => {
  try {
    const db = await ready
    switch (op) {
      case 'query': return reply(id, true, result(await db.query(a, b)))
      case 'exec': await db.exec(a); return reply(id, true, null)
      case 'begin':
        db.transaction((raw) => new Promise((resolve, reject) => {
          txs.set(id, {raw, resolve, reject, endId: 0, commit: false})
          reply(id, true, null)
        })).then(
          () => reply(txs.get(id).endId, true, null),
          (error) => { const t = txs.get(id); if (!t) return fail(id, error); t.commit ? fail(t.endId, error) : reply(t.endId, true, null) },
        ).finally(() => txs.delete(id))
        return
      case 'txQuery': return reply(id, true, result(await txs.get(a).raw.query(b, c)))
      case 'txExec': await txs.get(a).raw.exec(b); return reply(id, true, null)
      case 'end': {
        const t = txs.get(a)
        t.endId = id
        t.commit = b
        return b ? t.resolve() : t.reject(new Error('rollback'))
      }
      case 'close': await db.close(); return reply(id, true, null)
    }
  } catch (error) {
    fail(id, error)
  }
})
`

export async function createPgliteSql(options: PgliteOptions = {}): Promise<Sql> {
  if (options.dataDir) mkdirSync(options.dataDir, {recursive: true})
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: {dataDir: options.dataDir ?? 'memory://', pglite: createRequire(import.meta.url).resolve('@electric-sql/pglite')},
  })
  const pending = new Map<number, {resolve: (value: unknown) => void; reject: (error: Error) => void}>()
  let nextId = 1
  let dead: Error | undefined
  const settleAll = (error: Error): void => {
    dead ??= error
    for (const p of pending.values()) p.reject(error)
    pending.clear()
  }
  worker.on('message', ([id, ok, value]: Reply) => {
    const p = pending.get(id)
    if (!p) return
    pending.delete(id)
    if (ok) p.resolve(value)
    else p.reject(Object.assign(new Error(value.message), value.fields))
  })
  worker.on('error', (error) => settleAll(new Error(`the embedded database thread failed: ${error.message}`)))
  worker.on('exit', (code) => settleAll(new Error(`the embedded database thread exited (code ${code})`)))

  const call = (op: Op, ...args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (dead) return reject(dead)
      const id = nextId++
      pending.set(id, {resolve, reject})
      worker.postMessage([id, op, ...args])
    })
  // Id 0 answers once the database is open (or failed to open).
  await new Promise((resolve, reject) => pending.set(0, {resolve, reject}))

  const query = <R>(op: 'query' | 'txQuery', ...args: unknown[]) => call(op, ...args) as Promise<QueryResult<R>>
  return {
    kind: 'pglite',
    query: (text, params) => query('query', text, params),
    exec: async (script) => {
      await call('exec', script)
    },
    transaction: async (fn) => {
      // The begin request's id names the transaction.
      const txId = nextId
      await call('begin')
      const tx: SqlTx = {
        query: (text, params) => query('txQuery', txId, text, params),
        exec: async (script) => {
          await call('txExec', txId, script)
        },
      }
      let value
      try {
        value = await fn(tx)
      } catch (error) {
        await call('end', txId, false).catch(() => {})
        throw error
      }
      await call('end', txId, true)
      return value
    },
    close: async () => {
      if (!dead) await call('close').catch(() => {})
      await worker.terminate()
    },
  }
}
