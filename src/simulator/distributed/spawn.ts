import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

// Starts `msgr sim agent` child processes for `msgr sim run --agents N` (each in its own process, so each
// has its own file-descriptor limit), and stops them again.

export interface SpawnedAgent {
  agentId: string
  proc: ChildProcess
  /** The last few KB of the agent's output, for error messages. */
  tail(): string
  /** Resolves with the exit code or signal name. */
  exited: Promise<number | string>
  stop(): Promise<void>
}

export interface SpawnOptions {
  agentId: string
  runId: string
  natsUrl: string
  /** Extra `msgr` arguments, e.g. ['--log-level', 'debug']. */
  args?: string[]
  env?: NodeJS.ProcessEnv
}

const TAIL_BYTES = 4096

export function spawnAgent(options: SpawnOptions): SpawnedAgent {
  const args = [msgrBin(), 'sim', 'agent', '--nats', options.natsUrl, '--run', options.runId, '--agent-id', options.agentId, '--once', ...(options.args ?? [])]
  // MSGR_SIM_AGENT_NODE_ARGS: extra Node flags for spawned agents (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them).
  const nodeArgs = (process.env.MSGR_SIM_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const proc = spawn(process.execPath, [...nodeArgs, ...args], {env: {...process.env, ...options.env}, stdio: ['ignore', 'pipe', 'pipe']})
  let tail = ''
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-TAIL_BYTES)
  }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1))
    proc.once('error', (error) => {
      keep(Buffer.from(String(error)))
      resolve(-1)
    })
  })
  return {
    agentId: options.agentId,
    proc,
    tail: () => tail.trim(),
    exited,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}

/** bin/run.js of this package, found from this module's place in src/ or dist/src/. */
export function msgrBin(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'bin', 'run.js')
    if (existsSync(candidate) && existsSync(join(dir, 'package.json'))) return candidate
    dir = dirname(dir)
  }
  throw new Error('cannot find bin/run.js of msgr to spawn agents; start them yourself with `msgr sim agent` and omit spawning')
}
