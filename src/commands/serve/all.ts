import {Command, Flags} from '@oclif/core'

import {canaryFlags} from '../../cli/canary-flags.js'
import {nodeFlags, serviceFlags} from '../../cli/flags.js'
import {pushFlags} from '../../cli/push-flags.js'
import {mediaFlags} from '../../cli/media-flags.js'
import {serve} from '../../cli/serve.js'

export default class ServeAll extends Command {
  static override description = `Run every role in one process: the zero-setup single node.
Embedded defaults: PGlite in --data-dir, in-memory bus and presence. Pass --database-url, --nats-url or --redis-url to use a real service for that part instead.`
  static override examples = ['<%= config.bin %> serve all --dev', '<%= config.bin %> serve all --port 9000 --data-dir /var/lib/msgr']
  static override flags = {
    ...nodeFlags,
    ...serviceFlags,
    ...mediaFlags,
    ...canaryFlags,
    ...pushFlags,
    'data-dir': Flags.string({description: 'Where the embedded database and secrets live', env: 'MSGR_DATA_DIR', default: '.msgr'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ServeAll)
    await serve(['gateway', 'worker', 'control-plane'], flags, {embedded: true, version: this.config.version})
  }
}
