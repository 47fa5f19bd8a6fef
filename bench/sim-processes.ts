import {type ChildProcess, spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

// msgr roles as separate OS processes of the built binary (each with its own file limit), with /proc
// figures (RSS, CPU) and their /metrics, for the 100k-connection run (bench/sim-100k.ts).

const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const TICKS_PER_SECOND = 100

export interface RoleProcess {
  name: string
  proc: ChildProcess
  url: string
  /** Resident set size now, bytes (0 when gone). */
  rss(): number
  /** User + system CPU so far, ms. */
  cpuMs(): number
  /** One Prometheus gauge/counter of its /metrics (summed over labels), or undefined. */
  metric(name: string): Promise<number | undefined>
  output(): string
  stop(): Promise<void>
}

/** Starts `msgr <args>` and waits for its "msgr node ready" log line (JSON logs). */
export async function startRole(name: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<RoleProcess> {
  // MSGR_ROLE_NODE_ARGS: extra Node flags for the role processes (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const nodeArgs = (process.env.MSGR_ROLE_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const proc = spawn(process.execPath, [...nodeArgs, BIN, ...args], {env: {...process.env, MSGR_LOG_FORMAT: 'json', MSGR_LOG_LEVEL: 'info', ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  let tail = ''
  let ready = false
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} (msgr ${args.join(' ')}) not ready in ${timeoutMs / 1000} s:\n${tail}`)), timeoutMs)
    const onData = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-8192)
      if (ready) return
      for (const line of tail.split('\n')) {
        if (!line.includes('"msgr node ready"')) continue
        try {
          const parsed = JSON.parse(line) as {url: string}
          ready = true
          clearTimeout(timer)
          resolve(parsed.url)
        } catch {
          // partial line
        }
      }
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', onData)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited with ${code}:\n${tail}`))
    })
  })
  return {
    name,
    proc,
    url,
    rss: () => procStatus(proc.pid!, 'VmRSS') * 1024,
    cpuMs: () => procCpuMs(proc.pid!),
    async metric(metric) {
      try {
        const res = await fetch(new URL('/metrics', url), {signal: AbortSignal.timeout(5000)})
        return sumMetric(await res.text(), metric)
      } catch {
        return undefined
      }
    },
    output: () => tail,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
    },
  }
}

export function sumMetric(text: string, name: string): number | undefined {
  let total: number | undefined
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue
    const value = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(value)) total = (total ?? 0) + value
  }
  return total
}

/** A field of /proc/<pid>/status in kB (0 when the process is gone). */
export function procStatus(pid: number, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) : 0
  } catch {
    return 0
  }
}

/** utime + stime of /proc/<pid>/stat, ms. */
export function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[11] = utime, fields[12] = stime (after pid and comm)
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND
  } catch {
    return 0
  }
}

/** Child processes of `pid` (one level), from /proc. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}
