import type {RateLimiter} from '../../core/ports.js'
import {assertRule} from '../../core/token-bucket.js'
import {closeRedis, openRedis} from './client.js'
import {fastFailRedisOptions, luaScript} from './lua-script.js'

export interface RedisRateLimiterOptions {
  url: string
  /** Key prefix, e.g. 'msgr'. */
  namespace: string
  /** A take that has no answer by then fails (the caller decides to let the request through). */
  commandTimeoutMs?: number
  onError?: (error: unknown) => void
}

/**
 * Token buckets shared by every gateway: one hash `${namespace}:rl:{key}` (fields t = tokens, ts = ms)
 * per bucket, updated by one Lua script on Redis' own clock (TIME), so gateway clocks do not matter.
 * Each write sets PEXPIRE to the moment the bucket is full again: an idle bucket simply vanishes.
 */
export function createRedisRateLimiter(options: RedisRateLimiterOptions): RateLimiter {
  if (/[{}]/.test(options.namespace)) throw new Error(`rate limiter namespace must not contain braces: ${options.namespace}`)
  const client = openRedis(options.url, {onError: options.onError, overrides: fastFailRedisOptions(options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS)})
  const key = (k: string) => `${options.namespace}:rl:{${k}}`

  return {
    kind: 'redis',

    async take(k, rule, cost = 1) {
      assertRule(rule, cost)
      const reply = (await TAKE.run(client, [key(k)], [rule.ratePerSec, rule.burst, cost])) as [number, number, number]
      return {ok: reply[0] === 1, retryAfterMs: reply[1], remaining: reply[2]}
    },

    healthy: () => client.status === 'ready',

    close: () => closeRedis(client),
  }
}

const DEFAULT_COMMAND_TIMEOUT_MS = 500

// The arithmetic of src/core/token-bucket.ts. ARGV = ratePerSec, burst, cost. Returns {ok, retryAfterMs,
// remaining}. A refused take writes nothing: the stored state still refills to the same value later.
const TAKE = luaScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
elseif now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  at = now
end
local epsilon = 1e-9
if tokens + epsilon < cost then
  return {0, math.max(1, math.ceil((cost - tokens) * 1000 / rate - epsilon)), math.floor(tokens + epsilon)}
end
tokens = math.max(0, tokens - cost)
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((burst - tokens) * 1000 / rate)))
return {1, 0, math.floor(tokens + epsilon)}`)
