import '../cli/tty-render.js'

import {Flags} from '@oclif/core'

import {AdminCommand} from '../cli/admin-command.js'
import {parseDuration} from '../cli/duration.js'
import {dashboardText} from '../cli/top/dashboard.js'
import {runLive} from '../cli/top/live.js'
import {advance, type TopView, topView} from '../cli/top/model.js'
import {fetchSample, snapshot} from '../cli/top/poll.js'

export default class Top extends AdminCommand {
  static override description = `Live view of the cluster (like nats top and htop): readiness and problems, every node with its connections, partitions, CPU and memory, and the messages stored per second.
On a terminal it refreshes every --interval until q. With --json, or when stdout is not a terminal, it prints one snapshot and exits; that waits for a second heartbeat of every node (about 2 s) so that CPU % and msgs/s are filled in.`
  static override examples = ['<%= config.bin %> top', '<%= config.bin %> top --interval 5s --url http://cp.internal:8080', '<%= config.bin %> top --json | jq .totals']
  static override flags = {
    interval: Flags.string({char: 'i', description: 'Time between refreshes, e.g. 1s, 500ms, 5s', default: '1s'}),
  }

  async run(): Promise<TopView> {
    const {flags} = await this.parse(Top)
    let intervalMs: number
    try {
      intervalMs = parseDuration(flags.interval)
    } catch (error) {
      this.error(`--interval: ${(error as Error).message}`, {exit: 2})
    }
    if (intervalMs < 100) this.error('--interval: refresh at most every 100ms, e.g. --interval 500ms', {exit: 2})
    // A poll that hangs must not hold the screen (or the exit after q) for long.
    const client = this.adminClient(flags, {timeoutMs: Math.max(3000, 2 * intervalMs)})

    if (this.jsonEnabled() || !process.stdout.isTTY) {
      const view = topView(await snapshot(client, {intervalMs}))
      this.log(dashboardText({view, url: flags.url}, process.stdout.columns ?? 200))
      return view
    }
    const first = advance(undefined, await fetchSample(client))
    return topView(await runLive({client, intervalMs, first, url: flags.url}))
  }
}
