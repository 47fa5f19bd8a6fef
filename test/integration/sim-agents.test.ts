import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runDistributed} from '../../src/simulator/distributed/controller.js'
import {decodeHistogram} from '../../src/simulator/histograms.js'
import {type Progress, lossOf, scenarioSchema, type SliceResult} from '../../src/simulator/types.js'
import {type MsgrProcess, startMsgr} from '../helpers/processes.js'
import {findServices, haveServices} from '../helpers/services.js'

// `msgr sim run --agents N` as it runs for real: the controller here, the agents as real `msgr sim agent`
// processes of the built binary, coordinated over the real NATS, against a real `msgr serve all --dev`.

const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const ok = await haveServices('nats')
const nats = ok ? (await findServices()).nats! : ''
let server: MsgrProcess | undefined
let dataDir = ''
const children: ChildProcess[] = []

const scenario = scenarioSchema.parse({
  users: 24,
  rate: {messagesPerSecond: 20},
  phases: {rampUp: 2, steady: 4, rampDown: 1, settle: 15},
  churn: {perHour: 0},
  media: {share: 0},
})

beforeAll(async () => {
  if (!ok) return
  dataDir = mkdtempSync(join(tmpdir(), 'msgr-sim-agents-'))
  server = await startMsgr(['serve', 'all', '--dev', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--rate-limits', 'off', '--canary-interval', '0'], {MSGR_LOG_FORMAT: 'json'})
}, 60_000)

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await server?.kill('SIGTERM')
  if (dataDir) rmSync(dataDir, {recursive: true, force: true})
})

describe.skipIf(!ok)('sim run --agents (real agent processes over NATS)', () => {
  it('runs 2 spawned agents and merges their slices exactly, with zero loss', async () => {
    const runId = `it-${Date.now().toString(36)}`
    const slices: Array<{agentId: string; users: {from: number; count: number}; result: SliceResult}> = []
    const progress: Progress[] = []
    const merged = await runDistributed({
      spec: {runId, seed: 7, scenario, target: {url: server!.url, via: 'gateway'}, users: scenario.users},
      agents: 2,
      natsUrl: nats,
      spawn: true,
      // Two addresses for two agents: each agent's own, so its devices bind ports of their own (SliceSpec.localPorts).
      localAddresses: ['127.0.0.2', '127.0.0.3'],
      onProgress: (p) => progress.push(p),
      onSliceResult: (s) => slices.push(s),
    })

    expect(slices.map((s) => s.users).sort((a, b) => a.from - b.from)).toEqual([{from: 0, count: 12}, {from: 12, count: 12}])
    expect(merged.runId).toBe(runId)
    expect(merged.slices).toBe(2)
    expect(merged.users).toBe(24)
    expect(merged.devices).toBe(slices[0]!.result.devices + slices[1]!.result.devices)
    // Counters, audit and errors are the sums of the slices, histogram counts too.
    for (const [key, value] of Object.entries(merged.counters)) {
      expect(value, `counters.${key}`).toBe(slices.reduce((a, s) => a + (s.result.counters as unknown as Record<string, number>)[key]!, 0))
    }
    for (const [key, value] of Object.entries(merged.audit)) {
      expect(value, `audit.${key}`).toBe(slices.reduce((a, s) => a + (s.result.audit as unknown as Record<string, number>)[key]!, 0))
    }
    for (const name of ['delivery', 'ack', 'connect'] as const) {
      const sum = slices.reduce((a, s) => a + decodeHistogram(s.result.histograms[name]).totalCount, 0)
      expect(decodeHistogram(merged.histograms[name]).totalCount, name).toBe(sum)
    }
    const slowest = Math.max(...slices.map((s) => decodeHistogram(s.result.histograms.delivery).maxValue))
    expect(decodeHistogram(merged.histograms.delivery).maxValue).toBe(slowest)
    // Real traffic, all of it delivered.
    expect(merged.audit.messages).toBeGreaterThan(10)
    expect(merged.audit.expected).toBeGreaterThan(merged.audit.messages)
    expect(lossOf(merged.audit)).toBe(0)
    expect(merged.audit.missing).toBe(0)
    // Progress came from both agents, summed.
    expect(progress.length).toBeGreaterThan(0)
    expect(progress.at(-1)!.users).toBe(24)
    expect(progress.at(-1)!.runId).toBe(runId)
  }, 90_000)

  it('fails naming the agent that went silent', async () => {
    const runId = `it-${Date.now().toString(36)}-k`
    const agents = ['alpha', 'beta'].map((name) => {
      const child = spawn(process.execPath, [BIN, 'sim', 'agent', '--nats', nats, '--run', runId, '--agent-id', `${runId}-${name}`, '--once'], {stdio: 'ignore'})
      children.push(child)
      return child
    })
    let killed = false
    const run = runDistributed({
      spec: {runId, seed: 3, scenario: {...scenario, phases: {...scenario.phases, steady: 30}}, target: {url: server!.url, via: 'gateway'}, users: 8},
      agents: 2,
      natsUrl: nats,
      spawn: false,
      localAddresses: [],
      agentTimeoutMs: 3000,
      onProgress: () => {
        // Once the slices run, take the second agent down without a word.
        if (!killed) {
          killed = true
          agents[1]!.kill('SIGKILL')
        }
      },
    })
    await expect(run).rejects.toThrow(new RegExp(`agent ${runId}-beta \\(.*pid ${agents[1]!.pid}\\) sent nothing for \\d+ s`))
    agents[0]!.kill('SIGTERM')
  }, 60_000)

  it('fails clearly when agents never come', async () => {
    const run = runDistributed({
      spec: {runId: `it-${Date.now().toString(36)}-n`, seed: 1, scenario, target: {url: server!.url, via: 'gateway'}, users: 8},
      agents: 2,
      natsUrl: nats,
      spawn: false,
      localAddresses: [],
      registerTimeoutMs: 1500,
    })
    await expect(run).rejects.toThrow(/only 0 of 2 agents registered .* start them with `msgr sim agent --nats/)
  }, 20_000)
})
