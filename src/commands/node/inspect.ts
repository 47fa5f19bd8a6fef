import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {nodeDetails} from '../../cli/admin-format.js'
import type {NodeResponse} from '../../control-plane/admin-api.js'

export default class NodeInspect extends AdminCommand {
  static override description = 'Show one node: address, state, drain request, load and the partitions it holds'
  static override examples = ['<%= config.bin %> node inspect gw0', '<%= config.bin %> node inspect wk0 --json | jq \'.leases | length\'']
  static override args = {id: Args.string({description: 'Node id (see msgr node list)', required: true})}

  async run(): Promise<NodeResponse> {
    const {args, flags} = await this.parse(NodeInspect)
    const result = await this.adminClient(flags).node(args.id)
    this.log(nodeDetails(result))
    return result
  }
}
