import {Args, Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {drainResultText, progressLine} from '../../cli/admin-format.js'
import {parseDuration} from '../../cli/duration.js'
import {DRAIN_DEFAULTS} from '../../control-plane/admin-api.js'
import {type DrainProgress, type DrainResult, drainExitCode, watchDrain} from '../../control-plane/admin-client.js'

export default class NodeDrain extends AdminCommand {
  static override description = `Drain a node without losing anything (like kubectl drain)
The node stops taking connections at once, tells its clients which gateway to reconnect to (spread over the deadline), closes the rest at the deadline and hands its partitions to other workers. Without --detach the command shows progress until the node reports it is drained.
Exit status: 0 drained, 3 the deadline (plus grace) passed with work left, 1 error, 2 usage.`
  static override examples = [
    '<%= config.bin %> node drain gw0',
    '<%= config.bin %> node drain gw0 --deadline 2m -m "kernel upgrade"',
    '<%= config.bin %> node drain wk0 --dry-run',
    '<%= config.bin %> node drain gw0 --force --detach --json',
  ]
  static override args = {id: Args.string({description: 'Node id (see msgr node list)', required: true})}
  static override flags = {
    deadline: Flags.string({description: 'Time clients get to move before the rest are closed, e.g. 60s, 2m, 1m30s', default: `${DRAIN_DEFAULTS.deadlineSec}s`}),
    force: Flags.boolean({description: 'Close every connection now instead of spreading reconnects over the deadline', default: false}),
    detach: Flags.boolean({description: 'Return right after the request instead of waiting for the drain', default: false}),
    message: Flags.string({char: 'm', description: 'Reason shown to clients in the reconnect event', default: DRAIN_DEFAULTS.reason}),
    'dry-run': Flags.boolean({description: 'Show the connections and partitions that would move; change nothing', default: false}),
  }

  async run(): Promise<DrainResult> {
    const {args, flags} = await this.parse(NodeDrain)
    let deadlineMs: number
    try {
      deadlineMs = parseDuration(flags.deadline)
    } catch (error) {
      this.error(`--deadline: ${(error as Error).message}`, {exit: 2})
    }
    const client = this.adminClient(flags)
    const request = {node: args.id, deadlineSec: Math.ceil(deadlineMs / 1000), force: flags.force, reason: flags.message}

    if (flags['dry-run']) return this.finish({outcome: 'dry_run', plan: (await client.planDrain(request)).plan})
    const {node, drain} = await client.drain(request)
    if (flags.detach) return this.finish({outcome: 'requested', node, drain})

    this.log(`draining ${node.id}: deadline ${flags.deadline}${flags.force ? ' (forced)' : ''}, reason "${drain.reason}"`)
    process.once('SIGINT', () => {
      this.logToStderr(`\nstopped watching; ${node.id} keeps draining (msgr node undrain ${node.id} to cancel)`)
      process.exit(130)
    })
    const tty = process.stdout.isTTY && !this.jsonEnabled()
    const onProgress = (p: DrainProgress) => {
      if (tty) process.stdout.write(`\r\u001B[2K${progressLine(p)}`)
      else this.log(progressLine(p))
    }
    const result = await watchDrain(client, node.id, drain, {onProgress})
    if (tty) process.stdout.write('\n')
    return this.finish(result)
  }

  private finish(result: DrainResult): DrainResult {
    const log = result.outcome === 'cancelled' || result.outcome === 'lost' || result.outcome === 'timed_out' ? this.logToStderr : this.log
    log.call(this, drainResultText(result))
    const code = drainExitCode(result)
    if (code !== 0) process.exitCode = code
    return result
  }
}
