import {z} from 'zod'

import {BACKOFF_DEFAULTS} from '../../core/push/backoff.js'
import {BATCH_DEFAULTS} from '../../core/push/batcher.js'

// Push notification settings of a node (flags in src/cli/push-flags.ts). Providers are on when their
// credentials are given; `log` is the development provider.

export const PUSH_DEFAULTS = {
  windowMs: BATCH_DEFAULTS.windowMs,
  maxBatch: BATCH_DEFAULTS.maxBatch,
  ratePerMinute: 6,
  burst: 3,
  maxAttempts: BACKOFF_DEFAULTS.maxAttempts,
  backoffBaseMs: BACKOFF_DEFAULTS.baseMs,
  backoffMaxMs: BACKOFF_DEFAULTS.maxMs,
  ackWaitMs: 30_000,
  sendTimeoutMs: 10_000,
  /** Days a device's notification history (push.history) is kept; 0 keeps it until the device is deleted. */
  historyDays: 30,
} as const

/** Hosts (and their subdomains) of the browsers' push services: a Web Push subscription must point at one, so clients cannot make the server POST to arbitrary URLs. */
export const WEBPUSH_SERVICE_HOSTS = ['fcm.googleapis.com', 'updates.push.services.mozilla.com', 'push.services.mozilla.com', 'notify.windows.com', 'push.apple.com'] as const

const serviceAccountSchema = z.object({project_id: z.string().min(1), client_email: z.string().min(1), private_key: z.string().min(1), token_uri: z.string().optional()})

export const pushConfigSchema = z
  .object({
    /** false: no notification worker, no jobs queued (push.register still stores tokens). */
    enabled: z.boolean().default(true),
    windowMs: z.number().int().min(0).max(60_000).default(PUSH_DEFAULTS.windowMs),
    maxBatch: z.number().int().min(1).max(1000).default(PUSH_DEFAULTS.maxBatch),
    /** Notifications per device: a token bucket of `burst`, refilled at ratePerMinute. */
    ratePerMinute: z.number().positive().default(PUSH_DEFAULTS.ratePerMinute),
    burst: z.number().int().min(1).default(PUSH_DEFAULTS.burst),
    maxAttempts: z.number().int().min(1).max(100).default(PUSH_DEFAULTS.maxAttempts),
    backoffBaseMs: z.number().int().positive().default(PUSH_DEFAULTS.backoffBaseMs),
    backoffMaxMs: z.number().int().positive().default(PUSH_DEFAULTS.backoffMaxMs),
    ackWaitMs: z.number().int().min(1000).default(PUSH_DEFAULTS.ackWaitMs),
    sendTimeoutMs: z.number().int().positive().default(PUSH_DEFAULTS.sendTimeoutMs),
    historyDays: z.number().min(0).default(PUSH_DEFAULTS.historyDays),
    /** The development provider: notifications become log lines. */
    log: z.boolean().default(false),
    webpush: z.object({publicKey: z.string().min(1), privateKey: z.string().min(1), subject: z.string().regex(/^(mailto:|https:)/, 'VAPID subject: a mailto: or https: URL'), allowedHosts: z.array(z.string().min(1)).default([...WEBPUSH_SERVICE_HOSTS])}).optional(),
    fcm: z.object({serviceAccount: serviceAccountSchema, baseUrl: z.url().optional(), tokenUrl: z.url().optional()}).optional(),
    apns: z
      .object({keyId: z.string().min(1), teamId: z.string().min(1), privateKey: z.string().min(1), topic: z.string().min(1), baseUrl: z.url().optional()})
      .optional(),
  })
  .refine((c) => c.sendTimeoutMs < c.ackWaitMs, {message: 'the push send timeout must be shorter than the push ack wait', path: ['sendTimeoutMs']})

export type PushConfig = z.output<typeof pushConfigSchema>
export type PushConfigInput = z.input<typeof pushConfigSchema>
