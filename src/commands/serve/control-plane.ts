import {Command} from '@oclif/core'

import {canaryFlags} from '../../cli/canary-flags.js'
import {nodeFlags, serviceFlags} from '../../cli/flags.js'
import {serve} from '../../cli/serve.js'

export default class ServeControlPlane extends Command {
  static override description = 'Run a control-plane node against Postgres, NATS JetStream and Redis'
  static override examples = [
    '<%= config.bin %> serve control-plane --database-url postgres://msgr@127.0.0.1/msgr --nats-url nats://127.0.0.1:4222 --redis-url redis://127.0.0.1:6379',
  ]
  static override flags = {...nodeFlags, ...serviceFlags, ...canaryFlags}

  async run(): Promise<void> {
    const {flags} = await this.parse(ServeControlPlane)
    await serve(['control-plane'], flags, {embedded: false, version: this.config.version})
  }
}
