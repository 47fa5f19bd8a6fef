import {Command, Flags} from '@oclif/core'

import {createNatsPushQueue} from '../../adapters/nats/push-queue.js'
import {type DeadLetterView, deadLettersTable, deadLetterView} from '../../cli/push-format.js'
import {DEFAULTS} from '../../server/config.js'

export interface DeadLettersResult {
  deadLetters: DeadLetterView[]
  /** With --redrive: how many went back onto the push queue. */
  redriven?: number
}

export default class PushDeadLetters extends Command {
  static override description = `List push notifications that were given up on (the <NS>_PUSH_DLQ stream), or put them back on the queue.
Dead letters keep the job, the last error and the attempt count. --redrive moves them back (oldest first) for the notification workers to try again, e.g. after a provider outage.`
  static override examples = ['<%= config.bin %> push dead-letters --nats-url nats://nats:4222', '<%= config.bin %> push dead-letters --redrive --limit 500 --json']
  static override enableJsonFlag = true
  static override flags = {
    'nats-url': Flags.string({description: 'NATS URL of the cluster (JetStream enabled)', env: 'MSGR_NATS_URL', required: true}),
    namespace: Flags.string({description: 'The cluster’s namespace (stream prefix)', env: 'MSGR_NAMESPACE', default: DEFAULTS.namespace}),
    limit: Flags.integer({description: 'At most this many (oldest first)', default: 100, min: 1, max: 100_000}),
    redrive: Flags.boolean({description: 'Move them back onto the push queue', default: false}),
  }

  async run(): Promise<DeadLettersResult> {
    const {flags} = await this.parse(PushDeadLetters)
    const queue = await createNatsPushQueue({url: flags['nats-url'], namespace: flags.namespace, name: 'msgr-cli'})
    try {
      const deadLetters = (await queue.listDead(flags.limit)).map(deadLetterView)
      this.log(deadLettersTable(deadLetters))
      if (!flags.redrive) return {deadLetters}
      const redriven = await queue.redrive(flags.limit)
      this.log(`re-drove ${redriven} dead letter${redriven === 1 ? '' : 's'} onto the push queue`)
      return {deadLetters, redriven}
    } finally {
      await queue.close()
    }
  }
}
