import {randomBytes} from 'node:crypto'
import {join} from 'node:path'

import {Command, Flags} from '@oclif/core'

import {parseDuration} from '../../cli/duration.js'
import {startDashboard} from '../../simulator/dashboard.js'
import {runDistributed} from '../../simulator/distributed/controller.js'
import {runSlice} from '../../simulator/engine.js'
import {progressLine} from '../../simulator/progress-line.js'
import {type RunSummary, writeReport} from '../../simulator/report.js'
import {loadScenario, ScenarioError, validateScenario} from '../../simulator/scenario.js'
import type {Progress, Scenario, SliceResult, SliceSpec} from '../../simulator/types.js'

export default class SimRun extends Command {
  static override description = `Load-test a running msgr with virtual clients over real WebSocket connections, then audit every acknowledged message at every recipient device.
Traffic follows the seed's model (70% 1:1 / 30% groups, multi-device users, churn, typing, receipts, media) unless a --scenario YAML file says otherwise. Writes report.json, report.md and SVG charts to --out.
Exits 1 when the audit finds any loss (missing, duplicated, live misses, seq conflicts) or could not check every delivery, 2 on bad input.`
  static override examples = [
    '<%= config.bin %> sim run --url http://127.0.0.1:8080 --users 200 --rate 50 --duration 60s',
    '<%= config.bin %> sim run --scenario src/simulator/scenarios/default.yaml --out ./sim-results/nightly',
    '<%= config.bin %> sim run --via control-plane --url http://cp:8080 --database-url postgres://msgr@db/msgr --jwt-secret "$MSGR_JWT_SECRET" --users 20000',
    '<%= config.bin %> sim run --agents 5 --nats-url nats://127.0.0.1:4222 --users 100000 --local-addresses 127.0.0.2,127.0.0.3',
    '<%= config.bin %> sim run --users 30 --duration 10s --json | jq .audit',
  ]
  static override enableJsonFlag = true
  static override flags = {
    url: Flags.string({description: 'Base URL of a gateway (or of a control plane with --via control-plane)', env: 'MSGR_URL', default: 'http://127.0.0.1:8080'}),
    via: Flags.string({description: 'Connect to --url directly, or ask it (a control plane) for each user\'s gateway with GET /v1/connect', env: 'MSGR_SIM_VIA', options: ['gateway', 'control-plane'], default: 'gateway'}),
    scenario: Flags.string({char: 's', description: 'Scenario file (YAML); fields left out keep the seed\'s traffic model', env: 'MSGR_SIM_SCENARIO'}),
    users: Flags.integer({char: 'u', description: 'Users (overrides the scenario)', env: 'MSGR_SIM_USERS', min: 2}),
    rate: Flags.string({char: 'r', description: 'Messages per second of the whole run in the steady phase (overrides the scenario)', env: 'MSGR_SIM_RATE'}),
    arrival: Flags.string({description: 'closed: a target rate with a cap on sends in flight; open: Poisson arrivals that never wait', env: 'MSGR_SIM_ARRIVAL', options: ['closed', 'open']}),
    duration: Flags.string({char: 'd', description: 'Steady phase, e.g. 60s, 5m (overrides the scenario)', env: 'MSGR_SIM_DURATION'}),
    'ramp-up': Flags.string({description: 'Ramp-up, e.g. 10s (overrides the scenario)', env: 'MSGR_SIM_RAMP_UP'}),
    'ramp-down': Flags.string({description: 'Ramp-down, e.g. 5s (overrides the scenario)', env: 'MSGR_SIM_RAMP_DOWN'}),
    seed: Flags.integer({description: 'Seed of the traffic generator (same seed, same traffic)', env: 'MSGR_SIM_SEED', default: 1}),
    'run-id': Flags.string({description: 'Run id: letters, digits, - and _ (users\' phone numbers derive from it; default: new)', env: 'MSGR_SIM_RUN_ID'}),
    out: Flags.string({char: 'o', description: 'Report directory (default ./sim-results/<run id>)', env: 'MSGR_SIM_OUT'}),
    'local-addresses': Flags.string({description: 'Comma-separated source addresses for client sockets, used round-robin (e.g. 127.0.0.2,127.0.0.3)', env: 'MSGR_SIM_LOCAL_ADDRESSES'}),
    'database-url': Flags.string({description: 'Issue tokens directly against this Postgres (fast path for many users; with --jwt-secret)', env: 'MSGR_DATABASE_URL'}),
    'jwt-secret': Flags.string({description: 'The cluster JWT secret (with --database-url)', env: 'MSGR_JWT_SECRET'}),
    'access-ttl': Flags.integer({description: 'Lifetime in seconds of the access tokens issued with --database-url (default the server default, 900); a run longer than that sees every socket closed and refreshed once per lifetime', min: 60}),
    agents: Flags.integer({description: 'Spread the run over N agent processes coordinated over NATS (0: run in this process)', env: 'MSGR_SIM_AGENTS', default: 0, min: 0}),
    'nats-url': Flags.string({description: 'NATS for --agents', env: 'MSGR_NATS_URL', default: 'nats://127.0.0.1:4222'}),
    spawn: Flags.boolean({description: 'With --agents: start the agents as child processes (--no-spawn: wait for `msgr sim agent` processes started elsewhere)', allowNo: true, default: true}),
  }

  async run(): Promise<RunSummary & {files: string[]}> {
    const {flags} = await this.parse(SimRun)
    const scenario = await this.scenario(flags)
    const runId = flags['run-id'] ?? defaultRunId()
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(runId)) this.error(`--run-id "${runId}": use 1 to 64 letters, digits, "-" and "_"`, {exit: 2})
    if (flags['database-url'] && !flags['jwt-secret']) this.error('--database-url needs --jwt-secret (or MSGR_JWT_SECRET): the secret your gateways use', {exit: 2})
    const localAddresses = (flags['local-addresses'] ?? '').split(',').map((a) => a.trim()).filter(Boolean)
    const base: Omit<SliceSpec, 'users'> = {
      runId,
      seed: flags.seed,
      scenario,
      target: {url: flags.url, via: flags.via as 'gateway' | 'control-plane'},
      ...(flags['database-url'] ? {auth: {databaseUrl: flags['database-url'], jwtSecret: flags['jwt-secret']!, ...(flags['access-ttl'] ? {accessTtlSec: flags['access-ttl']} : {})}} : {}),
    }

    const json = this.jsonEnabled()
    const live = !json && process.stdout.isTTY ? startDashboard(flags.url) : undefined
    const onProgress = (p: Progress) => {
      if (live) live.update(p)
      else if (!json) this.log(progressLine(p))
    }
    const abort = new AbortController()
    const onSignal = () => abort.abort()
    process.once('SIGINT', onSignal)
    let result: SliceResult
    try {
      result =
        flags.agents > 0
          ? await runDistributed({
              spec: {...base, users: scenario.users},
              agents: flags.agents,
              natsUrl: flags['nats-url'],
              spawn: flags.spawn,
              localAddresses,
              onProgress,
              signal: abort.signal,
              log: (line) => (json ? undefined : live ? undefined : this.log(line)),
            })
          : await runSlice({...base, users: {from: 0, count: scenario.users}, ...(localAddresses.length ? {localAddresses, localPorts: true} : {})}, {onProgress, signal: abort.signal})
    } catch (error) {
      this.error(`sim run failed: ${(error as Error).message}`, {exit: 1})
    } finally {
      process.off('SIGINT', onSignal)
      live?.stop()
    }

    const dir = flags.out ?? join('sim-results', runId)
    const {summary, files} = await writeReport(dir, result)
    if (!json) this.log(reportText(summary, files))
    if (!summary.ok) process.exitCode = 1
    if (summary.audit.messages === 0 && scenario.rate.messagesPerSecond > 0) {
      // Nothing acknowledged means nothing was tested: not a pass.
      this.logToStderr('no message was acknowledged: check the errors above (is the server reachable, are rate limits in the way?)')
      process.exitCode = 1
    }
    return {...summary, files}
  }

  private async scenario(flags: {scenario?: string; users?: number; rate?: string; arrival?: string; duration?: string; 'ramp-up'?: string; 'ramp-down'?: string}): Promise<Scenario> {
    try {
      const scenario = await loadScenario(flags.scenario)
      const rate = flags.rate === undefined ? undefined : Number(flags.rate)
      if (rate !== undefined && !(rate >= 0)) this.error(`--rate "${flags.rate}": a number of messages per second, e.g. --rate 50`, {exit: 2})
      return validateScenario(
        {
          ...scenario,
          ...(flags.users ? {users: flags.users} : {}),
          rate: {...scenario.rate, ...(rate !== undefined ? {messagesPerSecond: rate} : {}), ...(flags.arrival ? {arrival: flags.arrival} : {})},
          phases: {
            ...scenario.phases,
            ...(flags.duration ? {steady: seconds(flags.duration, '--duration')} : {}),
            ...(flags['ramp-up'] ? {rampUp: seconds(flags['ramp-up'], '--ramp-up')} : {}),
            ...(flags['ramp-down'] ? {rampDown: seconds(flags['ramp-down'], '--ramp-down')} : {}),
          },
        },
        flags.scenario ?? 'flags',
      )
    } catch (error) {
      if (error instanceof ScenarioError) this.error(error.message, {exit: 2})
      throw error
    }
  }
}

function seconds(text: string, flag: string): number {
  try {
    return parseDuration(text) / 1000
  } catch (error) {
    throw new ScenarioError(`${flag}: ${(error as Error).message}`)
  }
}

function defaultRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  return `sim-${stamp}-${randomBytes(2).toString('hex')}`
}

function reportText(s: RunSummary, files: string[]): string {
  const d = s.latencyMs.delivery
  const a = s.audit
  return [
    '',
    `${s.ok ? 'PASS' : 'FAIL'}  run ${s.runId}: ${s.users} users, ${s.devices} devices, ${s.durationSec}s`,
    `  throughput  ${s.throughput.steadyAckedPerSec} acked/s, ${s.throughput.steadyDeliveredPerSec} delivered/s (steady)`,
    `  delivery    p50 ${d.p50} ms  p95 ${d.p95} ms  p99 ${d.p99} ms  p99.9 ${d.p999} ms  (${d.count} deliveries)`,
    `  ack         p50 ${s.latencyMs.ack.p50} ms  p99 ${s.latencyMs.ack.p99} ms   connect p50 ${s.latencyMs.connect.p50} ms  p99 ${s.latencyMs.connect.p99} ms`,
    `  audit       ${a.messages} messages, ${a.expected} deliveries expected: missing ${a.missing}, duplicated ${a.duplicated}, live misses ${a.liveMisses}, seq conflicts ${a.seqConflicts}, unverified ${a.unverified ?? 0} | by sync ${a.recoveredBySync}, out of order ${a.outOfOrder}, redelivered ${a.redelivered}`,
    `  errors      ${Object.entries(s.errorsByCode).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `  report      ${files.join(' ')}`,
  ].join('\n')
}
