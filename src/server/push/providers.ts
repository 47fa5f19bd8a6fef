import {createApnsProvider} from '../../adapters/push/apns.js'
import {createFcmProvider} from '../../adapters/push/fcm.js'
import {createLogPushProvider} from '../../adapters/push/log.js'
import {createWebPushProvider} from '../../adapters/push/web-push.js'
import type {Logger} from '../../core/logger.js'
import type {PushProvider, PushProviderName} from '../../core/push/provider.js'
import type {PushConfig} from './config.js'

/** The providers this node's configuration turns on. */
export function configuredProviders(config: PushConfig): PushProviderName[] {
  const names: PushProviderName[] = []
  if (config.webpush) names.push('webpush')
  if (config.fcm) names.push('fcm')
  if (config.apns) names.push('apns')
  if (config.log) names.push('log')
  return names
}

export function createProviders(config: PushConfig, logger: Logger): Map<PushProviderName, PushProvider> {
  const providers = new Map<PushProviderName, PushProvider>()
  const timeoutMs = config.sendTimeoutMs
  if (config.webpush) providers.set('webpush', createWebPushProvider({...config.webpush, timeoutMs}))
  if (config.fcm) providers.set('fcm', createFcmProvider({...config.fcm, timeoutMs}))
  if (config.apns) providers.set('apns', createApnsProvider({...config.apns, timeoutMs}))
  if (config.log) providers.set('log', createLogPushProvider(logger))
  return providers
}
