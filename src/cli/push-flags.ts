import {readFileSync} from 'node:fs'

import {Flags} from '@oclif/core'

import {PUSH_DEFAULTS, type PushConfigInput} from '../server/push/config.js'

// Flags of the roles that queue or send push notifications (gateway, worker, all); each has an MSGR_* equivalent.

export const pushFlags = {
  push: Flags.string({description: 'Push notifications for devices without a live connection: on or off', env: 'MSGR_PUSH', options: ['on', 'off'], default: 'on'}),
  'push-log': Flags.boolean({description: 'Enable the log push provider (notifications become log lines; default on with --dev)', env: 'MSGR_PUSH_LOG', allowNo: true}),
  'push-window': Flags.integer({description: 'ms a device’s notifications are gathered into one', env: 'MSGR_PUSH_WINDOW_MS', default: PUSH_DEFAULTS.windowMs, min: 0}),
  'push-rate-per-minute': Flags.integer({description: 'Notifications per device per minute (burst: --push-burst)', env: 'MSGR_PUSH_RATE_PER_MINUTE', default: PUSH_DEFAULTS.ratePerMinute, min: 1}),
  'push-burst': Flags.integer({description: 'Notifications a device may get back to back', env: 'MSGR_PUSH_BURST', default: PUSH_DEFAULTS.burst, min: 1}),
  'push-max-attempts': Flags.integer({description: 'Attempts before a notification goes to the dead-letter stream', env: 'MSGR_PUSH_MAX_ATTEMPTS', default: PUSH_DEFAULTS.maxAttempts, min: 1}),
  'push-history-days': Flags.integer({description: 'Days a device’s notification history (push.history) is kept; 0 keeps it', env: 'MSGR_PUSH_HISTORY_DAYS', default: PUSH_DEFAULTS.historyDays, min: 0}),
  'vapid-public-key': Flags.string({description: 'Web Push VAPID public key (base64url; `npx web-push generate-vapid-keys`)', env: 'MSGR_VAPID_PUBLIC_KEY', dependsOn: ['vapid-private-key', 'vapid-subject']}),
  'vapid-private-key': Flags.string({description: 'Web Push VAPID private key (base64url)', env: 'MSGR_VAPID_PRIVATE_KEY', dependsOn: ['vapid-public-key']}),
  'vapid-subject': Flags.string({description: 'Web Push VAPID contact, mailto: or https: URL', env: 'MSGR_VAPID_SUBJECT'}),
  'webpush-hosts': Flags.string({description: 'Comma-separated push service hosts a Web Push subscription may point at (subdomains included; default: the major browsers\' services; --dev allows any)', env: 'MSGR_WEBPUSH_HOSTS'}),
  'fcm-service-account': Flags.string({description: 'FCM: path to the Firebase service account JSON (or the JSON itself)', env: 'MSGR_FCM_SERVICE_ACCOUNT'}),
  'fcm-base-url': Flags.string({description: 'FCM HTTP v1 base URL (default https://fcm.googleapis.com)', env: 'MSGR_FCM_BASE_URL'}),
  'fcm-token-url': Flags.string({description: 'OAuth2 token endpoint (default: the service account’s token_uri)', env: 'MSGR_FCM_TOKEN_URL'}),
  'apns-key': Flags.string({description: 'APNs: path to the .p8 signing key (or the PEM itself)', env: 'MSGR_APNS_KEY', dependsOn: ['apns-key-id', 'apns-team-id', 'apns-topic']}),
  'apns-key-id': Flags.string({description: 'APNs key id', env: 'MSGR_APNS_KEY_ID'}),
  'apns-team-id': Flags.string({description: 'APNs team id', env: 'MSGR_APNS_TEAM_ID'}),
  'apns-topic': Flags.string({description: 'APNs topic: the app’s bundle id', env: 'MSGR_APNS_TOPIC'}),
  'apns-base-url': Flags.string({description: 'APNs base URL (default https://api.push.apple.com; sandbox: https://api.sandbox.push.apple.com)', env: 'MSGR_APNS_BASE_URL'}),
}

export interface PushFlagValues {
  push?: string
  'push-log'?: boolean
  'push-window'?: number
  'push-rate-per-minute'?: number
  'push-burst'?: number
  'push-max-attempts'?: number
  'push-history-days'?: number
  'vapid-public-key'?: string
  'vapid-private-key'?: string
  'vapid-subject'?: string
  'webpush-hosts'?: string
  'fcm-service-account'?: string
  'fcm-base-url'?: string
  'fcm-token-url'?: string
  'apns-key'?: string
  'apns-key-id'?: string
  'apns-team-id'?: string
  'apns-topic'?: string
  'apns-base-url'?: string
}

export function pushConfigFromFlags(flags: PushFlagValues, dev: boolean): PushConfigInput {
  const account = flags['fcm-service-account']
  return {
    enabled: flags.push !== 'off',
    log: flags['push-log'] ?? dev,
    windowMs: flags['push-window'],
    ratePerMinute: flags['push-rate-per-minute'],
    burst: flags['push-burst'],
    maxAttempts: flags['push-max-attempts'],
    historyDays: flags['push-history-days'],
    webpush:
      flags['vapid-public-key'] && flags['vapid-private-key']
        ? {
            publicKey: flags['vapid-public-key'],
            privateKey: flags['vapid-private-key'],
            subject: flags['vapid-subject'] ?? '',
            allowedHosts: flags['webpush-hosts']?.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean),
          }
        : undefined,
    fcm: account ? {serviceAccount: parseServiceAccount(inlineOrFile(account, '{')), baseUrl: flags['fcm-base-url'], tokenUrl: flags['fcm-token-url']} : undefined,
    apns: flags['apns-key']
      ? {
          privateKey: inlineOrFile(flags['apns-key'], '-----BEGIN'),
          keyId: flags['apns-key-id'] ?? '',
          teamId: flags['apns-team-id'] ?? '',
          topic: flags['apns-topic'] ?? '',
          baseUrl: flags['apns-base-url'],
        }
      : undefined,
  }
}

/** The value itself when it starts like the content, else the file it names. */
function inlineOrFile(value: string, contentStart: string): string {
  if (value.trimStart().startsWith(contentStart)) return value
  try {
    return readFileSync(value, 'utf8')
  } catch (error) {
    throw new Error(`cannot read ${value}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

function parseServiceAccount(text: string): {project_id: string; client_email: string; private_key: string; token_uri?: string} {
  try {
    return JSON.parse(text) as {project_id: string; client_email: string; private_key: string}
  } catch {
    throw new Error('--fcm-service-account: not valid JSON (pass the service account key file downloaded from Firebase)')
  }
}
