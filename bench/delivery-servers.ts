import {type ChildProcess, spawn} from 'node:child_process'
import {cpSync, existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {createPgliteSql} from '../src/adapters/pglite/sql.js'
import {createPostgresSql} from '../src/adapters/postgres/sql.js'
import {createThrowawayDatabase, type ThrowawayDatabase} from '../src/adapters/postgres/throwaway.js'
import {createAuthService} from '../src/core/auth/auth-service.js'
import {createLogSmsSink} from '../src/core/auth/sms.js'
import {silentLogger} from '../src/core/logger.js'
import type {Sql} from '../src/core/ports.js'
import {migrate} from '../src/core/store/migrate.js'
import {deleteNatsStream, randomNamespace, type ServiceUrls} from '../src/server/local-cluster.js'
import type {ClientUser} from './delivery-client.js'

// The servers of the delivery benchmark, each a child process of its own (the real built binary for
// msgr), started with --expose-gc and bench/peers/memory-hook so their memory is read the same way.

const HERE = dirname(fileURLToPath(import.meta.url)) // dist/bench
const ROOT = join(HERE, '..', '..')
const HOOK = join(HERE, 'peers', 'memory-hook.js')
const BIN = join(ROOT, 'bin', 'run.js')
const JWT_SECRET = 'bench-delivery-secret-bench-delivery-secret'

export interface ServerProcess {
  name: string
  proc: ChildProcess
  memoryFile: string
}

export interface RunningTarget {
  url: string
  /** Every process of the target; the first is the one whose memory per connection is measured. */
  processes: ServerProcess[]
  /** msgr: one token per user, issued before the sockets connect. */
  users: ClientUser[]
  stop(): Promise<void>
}

export interface MemoryFigures {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

export type TargetSpec =
  | {kind: 'ws'}
  | {kind: 'socketio'; redis: string}
  | {kind: 'msgr-all'; template: EmbeddedTemplate; compression?: boolean; cpuProfileDir?: string}
  | {kind: 'msgr-split'; services: ServiceUrls}

/** A `msgr serve all` data directory with the users and their tokens, copied for each embedded target. */
export interface EmbeddedTemplate {
  dataDir: string
  users: ClientUser[]
  remove(): void
}

export async function prepareEmbeddedTemplate(userCount: number): Promise<EmbeddedTemplate> {
  const work = mkdtempSync(join(tmpdir(), 'msgr-bench-template-'))
  const dataDir = join(work, 'data')
  const sql = await createPgliteSql({dataDir: join(dataDir, 'pg')})
  try {
    const users = await issueTokens(sql, userCount)
    return {dataDir, users, remove: () => rmSync(work, {recursive: true, force: true})}
  } finally {
    await sql.close()
  }
}

export async function startTarget(spec: TargetSpec, userCount: number): Promise<RunningTarget> {
  const work = mkdtempSync(join(tmpdir(), 'msgr-bench-delivery-'))
  const started: ServerProcess[] = []
  const cleanups: Array<() => Promise<void>> = [async () => rmSync(work, {recursive: true, force: true})]
  const stop = async () => {
    for (const p of started.reverse()) await stopProcess(p.proc)
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  }
  const launch = async (name: string, args: string[], env: Record<string, string>, ready: (line: string) => string | undefined, nodeArgs: string[] = []) => {
    const memoryFile = join(work, `${name}.memory.json`)
    const proc = spawn(process.execPath, ['--expose-gc', '--import', HOOK, ...nodeArgs, ...args], {
      env: {...process.env, ...env, BENCH_MEMORY_FILE: memoryFile},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const server: ServerProcess = {name, proc, memoryFile}
    started.push(server)
    const url = await waitReady(proc, name, ready)
    return {server, url}
  }
  try {
    if (spec.kind === 'ws') {
      const {url} = await launch('ws', [join(HERE, 'peers', 'ws-server.js')], {PORT: '0'}, readyPort)
      return {url, processes: started.slice(), users: plainUsers(userCount), stop}
    }
    if (spec.kind === 'socketio') {
      const key = randomNamespace('bench-sio-')
      const {url} = await launch('socketio', [join(HERE, 'peers', 'socketio-server.js')], {PORT: '0', REDIS_URL: spec.redis, BENCH_KEY: key}, readyPort)
      return {url, processes: started.slice(), users: plainUsers(userCount), stop}
    }
    const common = ['--host', '127.0.0.1', '--port', '0', '--jwt-secret', JWT_SECRET, '--rate-limits', 'off', '--presence', 'off', '--log-format', 'json']
    const env = {MSGR_LOG_LEVEL: 'info'}
    if (spec.kind === 'msgr-all') {
      // Tokens were issued into the template before any node opened it (PGlite is single-process).
      const dataDir = join(work, 'data')
      cpSync(spec.template.dataDir, dataDir, {recursive: true})
      const users = spec.template.users.slice(0, userCount)
      const args = [BIN, 'serve', 'all', '--data-dir', dataDir, '--canary-interval', '0', ...common, ...(spec.compression ? ['--ws-compression'] : [])]
      const nodeArgs = spec.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', spec.cpuProfileDir] : []
      const {url} = await launch('msgr-all', args, env, readyUrl, nodeArgs)
      return {url, processes: started.slice(), users, stop}
    }
    // Separate processes on the real services: a throwaway database and a namespace of its own.
    const database: ThrowawayDatabase = await createThrowawayDatabase(spec.services.postgres, {prefix: 'msgr_bench_', connectTimeoutMs: 3000})
    const namespace = randomNamespace('bd')
    cleanups.push(() => database.drop(), () => deleteNatsStream(spec.services.nats, namespace))
    const sql = createPostgresSql({url: database.url, max: 4})
    await migrate(sql)
    const users = await issueTokens(sql, userCount)
    await sql.close()
    const services = ['--database-url', database.url, '--nats-url', spec.services.nats, '--redis-url', spec.services.redis, '--namespace', namespace, '--partitions', '8']
    const gateway = await launch('gateway', [BIN, 'serve', 'gateway', ...services, ...common], env, readyUrl)
    await launch('control-plane', [BIN, 'serve', 'control-plane', '--canary-interval', '0', ...services, ...common], env, readyUrl)
    await launch('worker', [BIN, 'serve', 'worker', ...services, ...common], env, readyUrl)
    // The gateway is measured: move it to the front.
    started.splice(started.indexOf(gateway.server), 1)
    started.unshift(gateway.server)
    return {url: gateway.url, processes: started.slice(), users, stop}
  } catch (error) {
    await stop()
    throw error
  }
}

/** Collects garbage in the server process and reads its memory (see bench/peers/memory-hook.ts). */
export async function readMemory(server: ServerProcess): Promise<MemoryFigures> {
  rmSync(server.memoryFile, {force: true})
  server.proc.kill('SIGUSR2')
  const deadline = Date.now() + 10_000
  while (!existsSync(server.memoryFile)) {
    if (Date.now() > deadline) throw new Error(`${server.name} did not report its memory`)
    await new Promise((r) => setTimeout(r, 20))
  }
  return JSON.parse(readFileSync(server.memoryFile, 'utf8')) as MemoryFigures
}

/** User + system CPU seconds the process has used so far (Linux /proc; 0 elsewhere). */
export function cpuSeconds(server: ServerProcess): number {
  try {
    const stat = readFileSync(`/proc/${server.proc.pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0
  }
}

/** Users, devices and sessions through the auth service's admin path, all in one transaction (seconds, not minutes). */
async function issueTokens(sql: Sql, count: number): Promise<ClientUser[]> {
  await migrate(sql)
  return sql.transaction(async (tx) => {
    const inOne: Sql = {...sql, query: (text, params) => tx.query(text, params), transaction: (fn) => fn(tx)}
    const auth = createAuthService({sql: inOne, sms: createLogSmsSink(silentLogger()), jwtSecret: JWT_SECRET})
    const users: ClientUser[] = []
    for (let idx = 0; idx < count; idx++) {
      const pair = await auth.issueForPhone(`+1555${String(idx).padStart(7, '0')}`, {name: 'bench', platform: 'bench'})
      users.push({idx, token: pair.accessToken, userId: pair.userId})
    }
    return users
  })
}

function plainUsers(count: number): ClientUser[] {
  return Array.from({length: count}, (_, idx) => ({idx}))
}

function readyPort(line: string): string | undefined {
  const match = /^READY (\d+)/.exec(line)
  return match ? `ws://127.0.0.1:${match[1]}` : undefined
}

function readyUrl(line: string): string | undefined {
  if (!line.includes('"msgr node ready"')) return undefined
  try {
    return (JSON.parse(line) as {url: string}).url
  } catch {
    return undefined
  }
}

function waitReady(proc: ChildProcess, name: string, ready: (line: string) => string | undefined): Promise<string> {
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready in 60 s:\n${out.slice(-2000)}`)), 60_000)
    let buffered = ''
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        const url = ready(line)
        if (url) {
          clearTimeout(timer)
          resolve(url)
        }
      }
      if (out.length > 100_000) out = out.slice(-10_000)
    })
    proc.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()))
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited with ${code}:\n${out.slice(-2000)}`))
    })
  })
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  proc.kill('SIGTERM')
  const timer = setTimeout(() => proc.kill('SIGKILL'), 8_000)
  await exited
  clearTimeout(timer)
}
