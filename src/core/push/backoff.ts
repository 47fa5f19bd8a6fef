// Retries of a failed notification: exponential backoff with "equal jitter" (half fixed, half random), so
// a provider outage does not turn into synchronised retry waves.

export interface BackoffRule {
  baseMs: number
  maxMs: number
  /** Attempts in all (the first included); after the last one the jobs go to the dead-letter stream. */
  maxAttempts: number
}

export const BACKOFF_DEFAULTS: BackoffRule = {baseMs: 1000, maxMs: 5 * 60_000, maxAttempts: 6}

/** Delay before attempt `failed + 1`, given `failed` attempts so far (>= 1); `random` in [0, 1). */
export function backoffMs(failed: number, rule: BackoffRule, random: number): number {
  const exp = Math.min(rule.maxMs, rule.baseMs * 2 ** Math.max(0, failed - 1))
  return Math.round(exp / 2 + (exp / 2) * Math.min(Math.max(random, 0), 1))
}

export type RetryDecision = {action: 'retry'; delayMs: number} | {action: 'dead_letter'}

export function afterFailure(failed: number, rule: BackoffRule, random: number): RetryDecision {
  return failed >= rule.maxAttempts ? {action: 'dead_letter'} : {action: 'retry', delayMs: backoffMs(failed, rule, random)}
}
