import type {DistinctLimiter} from '../../core/ports.js'
import {closeRedis, openRedis} from './client.js'
import {fastFailRedisOptions, luaScript} from './lua-script.js'

export interface RedisDistinctLimiterOptions {
  url: string
  /** Key prefix, e.g. 'msgr'. */
  namespace: string
  commandTimeoutMs?: number
  onError?: (error: unknown) => void
}

/**
 * Sliding-window distinct counts: one sorted set `${namespace}:dl:{key}` per key, member -> last seen (ms,
 * Redis' clock), trimmed to the window and expiring with its newest member. It never holds more than
 * `limit` members, so each call is O(log limit).
 */
export function createRedisDistinctLimiter(options: RedisDistinctLimiterOptions): DistinctLimiter {
  if (/[{}]/.test(options.namespace)) throw new Error(`distinct limiter namespace must not contain braces: ${options.namespace}`)
  const client = openRedis(options.url, {onError: options.onError, overrides: fastFailRedisOptions(options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS)})
  const key = (k: string) => `${options.namespace}:dl:{${k}}`

  return {
    kind: 'redis',

    async admit(k, member, rule) {
      if (!(rule.limit >= 1) || !(rule.windowMs >= 1)) throw new RangeError(`limit and windowMs must be at least 1, got ${rule.limit} and ${rule.windowMs}`)
      const reply = (await ADMIT.run(client, [key(k)], [member, rule.limit, Math.ceil(rule.windowMs)])) as [number, number, number]
      return {ok: reply[0] === 1, retryAfterMs: reply[1], count: reply[2]}
    },

    healthy: () => client.status === 'ready',

    close: () => closeRedis(client),
  }
}

const DEFAULT_COMMAND_TIMEOUT_MS = 500

// ARGV = member, limit, windowMs. Returns {ok, retryAfterMs, count}. A refused member is not added.
const ADMIT = luaScript(`
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(1, tonumber(oldest[2]) + window - now), count}
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0, redis.call('ZCARD', KEYS[1])}`)
