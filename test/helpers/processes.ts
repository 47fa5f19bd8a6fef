import {type ChildProcess, spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

// Runs the real `msgr` binary (the built dist/) as child processes, as an operator would.

const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

export interface MsgrProcess {
  proc: ChildProcess
  url: string
  output(): string
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>
  kill(signal?: NodeJS.Signals): Promise<number | string>
}

/** Starts `msgr <args>` with --port 0 and JSON logs, and waits for its "msgr node ready" line. */
export async function startMsgr(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<MsgrProcess> {
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: {...process.env, MSGR_LOG_LEVEL: 'info', ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`msgr ${args.join(' ')} not ready in time:\n${out}`)), timeoutMs)
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      for (const line of out.split('\n')) {
        if (!line.includes('"msgr node ready"')) continue
        try {
          clearTimeout(timer)
          resolve((JSON.parse(line) as {url: string}).url)
        } catch {
          // partial line; wait for more
        }
      }
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()))
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`msgr ${args.join(' ')} exited with ${code}:\n${out}`))
    })
  })
  return {
    proc,
    url,
    output: () => out,
    exited,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      return exited
    },
  }
}

/** Runs a msgr command to completion and returns its stdout. */
export async function runMsgr(args: string[], env: Record<string, string> = {}): Promise<{code: number; stdout: string; stderr: string}> {
  const proc = spawn(process.execPath, [BIN, ...args], {env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const code = await new Promise<number>((resolve) => proc.once('exit', (c) => resolve(c ?? -1)))
  return {code, stdout, stderr}
}
