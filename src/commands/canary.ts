import {AdminCommand} from '../cli/admin-command.js'
import {canaryText} from '../cli/canary-format.js'
import type {CanaryResponse} from '../control-plane/admin-api.js'

export default class Canary extends AdminCommand {
  static override description = `The end-to-end canary the control-plane leader runs: last outcome, ack and delivery latency, history.
Exits 1 when the canary is failing (its last probes failed in a row).`
  static override examples = ['<%= config.bin %> canary', '<%= config.bin %> canary --json | jq .last']

  async run(): Promise<CanaryResponse> {
    const {flags} = await this.parse(Canary)
    const report = await this.adminClient(flags).canary()
    this.log(canaryText(report))
    if (report.failing) process.exitCode = 1
    return report
  }
}
