import {randomUUID} from 'node:crypto'

import type {Logger} from '../../core/logger.js'
import type {PushProvider} from '../../core/push/provider.js'

/** Development provider: every notification is a log line (the default of `msgr serve all --dev`). */
export function createLogPushProvider(logger: Logger): PushProvider {
  return {
    name: 'log',
    async send(target, notification, data) {
      const id = randomUUID()
      logger.info({push: {id, token: target.token, title: notification.title, body: notification.body, count: notification.count, silent: notification.silent, data}}, 'push notification (log provider)')
      return {ok: true, id}
    },
  }
}
