import {AdminCommand} from '../../cli/admin-command.js'
import {partitionsTable} from '../../cli/admin-format.js'
import type {PartitionsResponse} from '../../control-plane/admin-api.js'

export default class PartitionList extends AdminCommand {
  static override description = 'List conversation partitions: owner, lease epoch, status (owned, unowned, expired)'
  static override examples = ['<%= config.bin %> partition list', '<%= config.bin %> partition list --json | jq \'.partitions[] | select(.status != "owned")\'']

  async run(): Promise<PartitionsResponse> {
    const {flags} = await this.parse(PartitionList)
    const result = await this.adminClient(flags).partitions()
    this.log(partitionsTable(result.partitions, Date.now()))
    return result
  }
}
