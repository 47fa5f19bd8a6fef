import {execFileSync} from 'node:child_process'
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {cpus} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {benchCodec} from './codec.js'
import {benchDelivery} from './delivery.js'
import {benchE2e} from './e2e.js'
import {benchFanout} from './fanout.js'
import {benchMedia} from './media.js'
import {benchGroups} from './group-delivery.js'
import {benchIdleMemory} from './idle-memory.js'
import {benchSearch} from './search.js'
import {benchPush} from './push.js'
import {benchRateLimits} from './rate-limits.js'
import {benchStore} from './store-batch.js'
import {printTable, type Table} from './table.js'

// `npm run bench [-- store codec fanout groups]`: runs the benchmarks (all by default), prints a table per
// benchmark and writes every figure to bench/results/latest.json.

const BENCHMARKS = {
  store: async () => benchStore(),
  codec: async () => benchCodec(),
  fanout: async () => benchFanout(),
  media: async () => benchMedia(),
  groups: async () => benchGroups(),
  search: async () => benchSearch(),
  limits: async () => benchRateLimits(),
  delivery: async () => benchDelivery(),
  idle: async () => benchIdleMemory(),
  e2e: async () => benchE2e(),
  push: async () => benchPush(),
} satisfies Record<string, () => Promise<{result: unknown; tables: Table[]}>>

type BenchName = keyof typeof BENCHMARKS
const ALL = Object.keys(BENCHMARKS) as BenchName[]
type Meta = ReturnType<typeof meta>

async function main(): Promise<void> {
  const names = selected(process.argv.slice(2))
  const root = repoRoot()
  const started = Date.now()
  if (!(globalThis as {gc?: unknown}).gc) process.stderr.write('note: run with --expose-gc (npm run bench does) for steadier CPU figures\n')

  const file = join(root, 'bench', 'results', 'latest.json')
  // A partial run (`npm run bench -- codec`) keeps the other benchmarks' last figures; each entry
  // carries its own meta, so a carried-over entry shows when and on which commit it was measured.
  const benchmarks: Record<string, {meta: Meta; result: unknown}> = names.length === ALL.length ? {} : previous(file)
  for (const name of names) {
    process.stderr.write(`\n== ${name} ==\n`)
    const benchStarted = Date.now()
    const {result, tables} = await BENCHMARKS[name]()
    benchmarks[name] = {meta: meta(root, benchStarted), result}
    for (const table of tables) printTable(table)
  }

  mkdirSync(dirname(file), {recursive: true})
  // Write then rename: a crashed run never leaves half a file behind (*.tmp is git-ignored).
  writeFileSync(`${file}.tmp`, JSON.stringify({updatedAt: new Date().toISOString(), benchmarks}, null, 2) + '\n')
  renameSync(`${file}.tmp`, file)
  process.stdout.write(`\nresults: ${file} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`)
}

function selected(args: string[]): BenchName[] {
  const names = [...new Set(args.filter((a) => !a.startsWith('-')))]
  if (names.length === 0) return ALL
  const unknown = names.filter((n) => !(ALL as string[]).includes(n))
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}: choose from ${ALL.join(', ')}`)
  return names as BenchName[]
}

/** The entries of an earlier latest.json, or none if there is no readable one. */
function previous(file: string): Record<string, {meta: Meta; result: unknown}> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as {benchmarks?: Record<string, {meta: Meta; result: unknown}>}
    return parsed.benchmarks ?? {}
  } catch {
    return {}
  }
}

function meta(root: string, started: number) {
  const pkg = (name: string) => {
    try {
      return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {version: string}).version
    } catch {
      return 'unknown'
    }
  }
  return {
    measuredAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    commit: git(root),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
    versions: {pg: pkg('pg'), pglite: pkg('@electric-sql/pglite'), zod: pkg('zod')},
  }
}

function git(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).trim()
    return dirty ? `${head}-dirty` : head
  } catch {
    return 'unknown'
  }
}

/** dist/bench/run.js → the repository root, wherever the command is started from. */
function repoRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..')
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exitCode = 1
})
