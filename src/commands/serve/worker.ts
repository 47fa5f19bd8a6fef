import {Command} from '@oclif/core'

import {nodeFlags, serviceFlags} from '../../cli/flags.js'
import {pushFlags} from '../../cli/push-flags.js'
import {serve} from '../../cli/serve.js'

export default class ServeWorker extends Command {
  static override description = 'Run a worker node against Postgres, NATS JetStream and Redis'
  static override examples = [
    '<%= config.bin %> serve worker --database-url postgres://msgr@127.0.0.1/msgr --nats-url nats://127.0.0.1:4222 --redis-url redis://127.0.0.1:6379',
  ]
  static override flags = {...nodeFlags, ...serviceFlags, ...pushFlags}

  async run(): Promise<void> {
    const {flags} = await this.parse(ServeWorker)
    await serve(['worker'], flags, {embedded: false, version: this.config.version})
  }
}
