import {z} from 'zod'

import {PHONE_PATTERN} from '../core/auth/auth-service.js'

// Settings of the end-to-end canary the control-plane leader runs (src/control-plane/canary.ts).

export const CANARY_DEFAULTS = {
  intervalMs: 10_000,
  timeoutMs: 5_000,
  phone: '+10000000000',
  failureThreshold: 2,
  history: 20,
} as const

export const canaryConfigSchema = z.object({
  /** ms between probes; 0 turns the canary off. */
  intervalMs: z.number().int().min(0).default(CANARY_DEFAULTS.intervalMs),
  /** Longest one probe may take, connect to delivery, before it counts as failed. */
  timeoutMs: z.number().int().min(100).default(CANARY_DEFAULTS.timeoutMs),
  /** The canary user's phone: a number no person uses. */
  phone: z.string().regex(PHONE_PATTERN, 'canary phone: E.164, e.g. +10000000000 (set --canary-phone)').default(CANARY_DEFAULTS.phone),
  /** This many failed probes in a row make the control plane unready and `msgr status` not ready. */
  failureThreshold: z.number().int().min(1).default(CANARY_DEFAULTS.failureThreshold),
  /** Outcomes kept in memory for GET /v1/admin/canary. */
  history: z.number().int().min(1).max(1000).default(CANARY_DEFAULTS.history),
})

export type CanaryConfig = z.output<typeof canaryConfigSchema>
export type CanaryConfigInput = z.input<typeof canaryConfigSchema>
