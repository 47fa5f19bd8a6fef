import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {chownSync, existsSync, mkdtempSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {portOpen, sleep} from '../../src/server/local-cluster.js'

// NATS and Postgres servers of the chaos suite's own, on free ports in a temporary directory, so that
// killing and restarting them never touches the machine's shared services other suites are using.

const NATS_SERVER = '/usr/sbin/nats-server'
const PG_BIN = '/usr/lib/postgresql/15/bin'

export interface PrivateService {
  url: string
  /** Kills the server abruptly (SIGKILL / immediate shutdown), waits `downMs`, starts it again on the same port and data. */
  restart(downMs: number): Promise<void>
  stop(): Promise<void>
}

/** Why the private services cannot run here, or undefined when they can. */
export function privateServicesUnavailable(): string | undefined {
  if (!existsSync(NATS_SERVER)) return `no ${NATS_SERVER}`
  if (!existsSync(join(PG_BIN, 'initdb'))) return `no ${PG_BIN}/initdb`
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['postgres'], {stdio: 'ignore'})
    } catch {
      return 'running as root and there is no "postgres" user to run initdb as'
    }
  }
  return undefined
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
}

/** nats-server with JetStream, file storage in its own directory. */
export async function startPrivateNats(): Promise<PrivateService> {
  const dir = mkdtempSync(join(tmpdir(), 'msgr-chaos-nats-'))
  const port = await freePort()
  let proc: ChildProcess | undefined
  const start = async () => {
    proc = spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], {stdio: 'ignore'})
    await waitPort(port, true)
  }
  const kill = async () => {
    if (!proc || proc.exitCode !== null) return
    const exited = new Promise((resolve) => proc!.once('exit', resolve))
    proc.kill('SIGKILL')
    await exited
    await waitPort(port, false)
  }
  await start()
  return {
    url: `nats://127.0.0.1:${port}`,
    async restart(downMs) {
      await kill()
      await sleep(downMs)
      await start()
    },
    async stop() {
      await kill()
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

/** A Postgres 15 cluster (initdb) of its own; as root, run as the "postgres" user. */
export async function startPrivatePostgres(): Promise<PrivateService> {
  const dir = mkdtempSync(join(tmpdir(), 'msgr-chaos-pg-'))
  const data = join(dir, 'data')
  const port = await freePort()
  const asRoot = process.getuid?.() === 0
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim()))
  const run = (bin: string, args: string[]) =>
    asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, bin), ...args], {stdio: 'ignore'}) : execFileSync(join(PG_BIN, bin), args, {stdio: 'ignore'})
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres'])
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off`
  const start = async () => {
    run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start'])
    await waitPort(port, true)
  }
  // Immediate: no checkpoint, connections cut, recovery from the WAL at the next start (a crash).
  const crash = () => run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
  await start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async restart(downMs) {
      crash()
      await sleep(downMs)
      await start()
    },
    async stop() {
      try {
        crash()
      } catch {
        // already down
      }
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

async function waitPort(port: number, open: boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await portOpen('127.0.0.1', port)) !== open) {
    if (Date.now() > deadline) throw new Error(`port ${port} did not ${open ? 'open' : 'close'} in time`)
    await sleep(50)
  }
}
