import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import type {UndrainResponse} from '../../control-plane/admin-api.js'

export default class NodeUndrain extends AdminCommand {
  static override description = 'Cancel a drain: the node takes connections and partitions again (like kubectl uncordon)'
  static override examples = ['<%= config.bin %> node undrain gw0']
  static override args = {id: Args.string({description: 'Node id (see msgr node list)', required: true})}

  async run(): Promise<UndrainResponse> {
    const {args, flags} = await this.parse(NodeUndrain)
    const result = await this.adminClient(flags).undrain(args.id)
    this.log(result.changed ? `node ${args.id} active again` : `node ${args.id} was not draining (state ${result.node.state})`)
    return result
  }
}
