import {AdminCommand} from '../../cli/admin-command.js'
import {nodesTable} from '../../cli/admin-format.js'
import type {NodesResponse} from '../../control-plane/admin-api.js'

export default class NodeList extends AdminCommand {
  static override description = 'List the nodes of the cluster: role, state, liveness, connections, partitions, CPU, memory'
  static override examples = ['<%= config.bin %> node list', '<%= config.bin %> node list --json | jq -r \'.nodes[] | select(.alive) | .id\'']

  async run(): Promise<NodesResponse> {
    const {flags} = await this.parse(NodeList)
    const result = await this.adminClient(flags).nodes()
    this.log(nodesTable(result.nodes))
    return result
  }
}
