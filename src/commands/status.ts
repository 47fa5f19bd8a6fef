import {AdminCommand} from '../cli/admin-command.js'
import {statusText} from '../cli/admin-format.js'
import type {StatusResponse} from '../control-plane/admin-api.js'

export default class Status extends AdminCommand {
  static override description = `Cluster health: nodes by role and state, partition ownership, gateway connections, problems.
Exits 1 when the cluster is not ready (no live worker, partitions without a live owner, no active gateway).`
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --url http://cp.internal:8080 --json | jq .problems']

  async run(): Promise<StatusResponse> {
    const {flags} = await this.parse(Status)
    const status = await this.adminClient(flags).status()
    this.log(statusText(status))
    if (!status.ready) process.exitCode = 1
    return status
  }
}
