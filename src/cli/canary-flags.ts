import {Flags} from '@oclif/core'

import {CANARY_DEFAULTS, type CanaryConfigInput} from '../control-plane/canary-config.js'

// Flags of the roles that include the control plane (control-plane, all); each has an MSGR_* equivalent.

export const canaryFlags = {
  'canary-interval': Flags.integer({
    description: 'ms between end-to-end canary probes run by the control-plane leader (0 = off; needs --jwt-secret)',
    env: 'MSGR_CANARY_INTERVAL_MS',
    default: CANARY_DEFAULTS.intervalMs,
    min: 0,
  }),
  'canary-timeout': Flags.integer({description: 'ms one canary probe may take, connect to delivery', env: 'MSGR_CANARY_TIMEOUT_MS', default: CANARY_DEFAULTS.timeoutMs, min: 100}),
  'canary-phone': Flags.string({description: 'Phone number of the canary user (one no person uses)', env: 'MSGR_CANARY_PHONE', default: CANARY_DEFAULTS.phone}),
  'canary-failures': Flags.integer({
    description: 'Failed canary probes in a row that make /readyz 503 and `msgr status` not ready',
    env: 'MSGR_CANARY_FAILURES',
    default: CANARY_DEFAULTS.failureThreshold,
    min: 1,
  }),
}

export interface CanaryFlagValues {
  'canary-interval'?: number
  'canary-timeout'?: number
  'canary-phone'?: string
  'canary-failures'?: number
}

export function canaryConfigFromFlags(flags: CanaryFlagValues): CanaryConfigInput {
  return {
    intervalMs: flags['canary-interval'],
    timeoutMs: flags['canary-timeout'],
    phone: flags['canary-phone'],
    failureThreshold: flags['canary-failures'],
  }
}
