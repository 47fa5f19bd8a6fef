import {Command, Flags} from '@oclif/core'

import {type AgentSummary, runAgent} from '../../simulator/distributed/agent.js'

export default class SimAgent extends Command {
  static override description = `Run simulator virtual clients for \`msgr sim run --agents N\` controllers.
Waits on NATS for a run, takes one slice of its users (their devices, conversations and traffic), streams
progress about once a second and sends the slice's result back. One agent process holds up to ~19,000
sockets (the per-process file limit), so large runs use several agents and several --local-addresses.`
  static override examples = [
    '<%= config.bin %> sim agent --nats nats://127.0.0.1:4222',
    '<%= config.bin %> sim agent --nats nats://10.0.0.5:4222 --local-addresses 127.0.0.2,127.0.0.3',
  ]
  static override enableJsonFlag = true
  static override flags = {
    nats: Flags.string({description: 'NATS URL the controller uses', env: 'MSGR_NATS_URL', default: 'nats://127.0.0.1:4222'}),
    'local-addresses': Flags.string({description: 'Comma-separated source addresses for client sockets, used when the controller hands out none'}),
    'agent-id': Flags.string({description: 'Name of this agent in the run (default: <hostname>-<pid>)'}),
    run: Flags.string({description: 'Join only this run id (the controller passes it to agents it spawns)'}),
    once: Flags.boolean({description: 'Exit after one run instead of waiting for the next', default: false}),
    'idle-timeout': Flags.integer({description: 'With --once: seconds to wait for a run before giving up', default: 120, min: 1}),
  }

  async run(): Promise<AgentSummary> {
    const {flags} = await this.parse(SimAgent)
    const stop = new AbortController()
    let signals = 0
    const onSignal = () => {
      // First signal: end the traffic and still report; second: leave at once.
      if (++signals > 1) process.exit(130)
      stop.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    const summary = await runAgent({
      natsUrl: flags.nats,
      agentId: flags['agent-id'],
      runId: flags.run,
      once: flags.once,
      localAddresses: parseAddresses(flags['local-addresses']),
      idleTimeoutMs: flags['idle-timeout'] * 1000,
      signal: stop.signal,
      log: (line) => this.logToStderr(line),
    })
    if (summary.runs.some((r) => !r.ok) || (flags.once && summary.runs.length === 0)) process.exitCode = 1
    return summary
  }
}

export function parseAddresses(text: string | undefined): string[] {
  if (!text) return []
  const addresses = text.split(',').map((a) => a.trim()).filter(Boolean)
  for (const address of addresses) {
    if (!/^[0-9a-fA-F:.]+$/.test(address)) throw new Error(`--local-addresses: "${address}" is not an IP address (e.g. 127.0.0.2,127.0.0.3)`)
  }
  return addresses
}
