import {execFileSync} from 'node:child_process'
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {cpus} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {benchCodec} from './codec.js'
import {benchFanout} from './fanout.js'
import {benchStore} from './store-batch.js'
import {printTable, type Table} from './table.js'

// `npm run bench [-- store codec fanout]`: runs the benchmarks (all by default), prints a table per
// benchmark and writes every figure to bench/results/latest.json.

const BENCHMARKS = {
  store: async () => benchStore(),
  codec: async () => benchCodec(),
  fanout: async () => benchFanout(),
} satisfies Record<string, () => Promise<{result: unknown; tables: Table[]}>>

type BenchName = keyof typeof BENCHMARKS

async function main(): Promise<void> {
  const names = selected(process.argv.slice(2))
  const root = repoRoot()
  const started = Date.now()
  if (!(globalThis as {gc?: unknown}).gc) process.stderr.write('note: run with --expose-gc (npm run bench does) for steadier CPU figures\n')

  const results: Partial<Record<BenchName, unknown>> = {}
  for (const name of names) {
    process.stderr.write(`\n== ${name} ==\n`)
    const {result, tables} = await BENCHMARKS[name]()
    results[name] = result
    for (const table of tables) printTable(table)
  }

  const output = {meta: meta(root, started), results}
  const dir = join(root, 'bench', 'results')
  mkdirSync(dir, {recursive: true})
  const file = join(dir, 'latest.json')
  // Write then rename: a crashed run never leaves half a file behind (*.tmp is git-ignored).
  writeFileSync(`${file}.tmp`, JSON.stringify(output, null, 2) + '\n')
  renameSync(`${file}.tmp`, file)
  process.stdout.write(`\nresults: ${file} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`)
}

function selected(args: string[]): BenchName[] {
  const all = Object.keys(BENCHMARKS) as BenchName[]
  const names = args.filter((a) => !a.startsWith('-'))
  if (names.length === 0) return all
  const unknown = names.filter((n) => !(all as string[]).includes(n))
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}: choose from ${all.join(', ')}`)
  return names as BenchName[]
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
    startedAt: new Date(started).toISOString(),
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
