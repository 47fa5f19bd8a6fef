import {readFileSync} from 'node:fs'

import {Command, Flags} from '@oclif/core'
import {parse as parseYaml} from 'yaml'

import {calibrationFromReport, DEFAULT_CALIBRATION} from '../../simulator/plan/calibration.js'
import {planText} from '../../simulator/plan/format.js'
import {parsePlanInputs} from '../../simulator/plan/inputs.js'
import {type CapacityPlan, computePlan} from '../../simulator/plan/model.js'

export default class SimPlan extends Command {
  static override description = `Capacity model: servers, memory, bandwidth, storage, DB writes and NATS throughput for millions of clients.
Defaults are the seed's inputs (1.3B MAU, 100B messages/day, 500M connections, 3x peak, fanout 8); the per-unit
costs come from runs measured on the development machine, or from a report of your own (--calibrate).
Prints the plan next to the seed's own estimates, with the reason for each difference. See docs/capacity.md.`
  static override examples = [
    '<%= config.bin %> sim plan',
    '<%= config.bin %> sim plan --calibrate report.json --server-memory 128 --json',
    '<%= config.bin %> sim plan --inputs plan.yaml --connections 50000000',
  ]
  static override enableJsonFlag = true
  static override flags = {
    inputs: Flags.string({description: 'YAML (or JSON) file of model inputs (keys as in --json output "inputs"); flags override it'}),
    calibrate: Flags.string({description: 'report.json of a measured run (msgr sim run --json, npm run sim:100k) to take per-unit costs from'}),
    mau: Flags.string({description: 'Monthly active users (default 1.3e9)'}),
    'messages-per-day': Flags.string({description: 'Messages per day (default 100e9)'}),
    connections: Flags.string({description: 'Concurrent WebSocket connections at peak (default 500e6)'}),
    'peak-factor': Flags.string({description: 'Peak ÷ average message rate (default 3)'}),
    fanout: Flags.string({description: 'Recipients per group message (default 8)'}),
    'message-bytes': Flags.string({description: 'Text message size in bytes (default 100)'}),
    'retention-years': Flags.string({description: 'Years messages are kept (default 5)'}),
    replication: Flags.string({description: 'Stored copies of each message (default 3)'}),
    'server-cores': Flags.string({description: 'Cores per server (default 16)'}),
    'server-memory': Flags.string({description: 'GiB of memory per server (default 64)'}),
  }

  async run(): Promise<CapacityPlan> {
    const {flags} = await this.parse(SimPlan)
    const fromFile = flags.inputs ? readStructured(flags.inputs) : {}
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) this.error(`--inputs ${flags.inputs}: expected a mapping of inputs`)
    const overrides: Record<string, number> = {}
    const numeric: Array<[keyof typeof flags & string, string]> = [
      ['mau', 'mau'],
      ['messages-per-day', 'messagesPerDay'],
      ['connections', 'connections'],
      ['peak-factor', 'peakFactor'],
      ['fanout', 'groupFanout'],
      ['message-bytes', 'messageBytes'],
      ['retention-years', 'retentionYears'],
      ['replication', 'replication'],
    ]
    for (const [flag, key] of numeric) {
      const value = flags[flag]
      if (typeof value === 'string') overrides[key] = number(flag, value)
    }
    const base = fromFile as Record<string, unknown>
    const server = {...(base.server as object | undefined)} as Record<string, unknown>
    if (flags['server-cores'] !== undefined) server.cores = number('server-cores', flags['server-cores'])
    if (flags['server-memory'] !== undefined) server.memoryGiB = number('server-memory', flags['server-memory'])
    const inputs = parsePlanInputs({...base, ...overrides, server})
    const calibration = flags.calibrate ? calibrationFromReport(readStructured(flags.calibrate), flags.calibrate) : DEFAULT_CALIBRATION
    const plan = computePlan(inputs, calibration)
    this.log(planText(plan))
    return plan
  }
}

function readStructured(file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as Error).message}`)
  }
  try {
    return parseYaml(text) as unknown
  } catch (error) {
    throw new Error(`${file}: not YAML or JSON: ${(error as Error).message}`)
  }
}

/** Accepts 1.3e9, 1300000000, 1_300_000_000 or 1,300,000,000. */
function number(flag: string, text: string): number {
  const value = Number(text.replace(/[_,]/g, ''))
  if (!Number.isFinite(value)) throw new Error(`--${flag}: "${text}" is not a number (e.g. 1.3e9)`)
  return value
}
