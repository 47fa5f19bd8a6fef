import {createHash} from 'node:crypto'

import type {Redis} from 'ioredis'

/** A Lua script run by EVALSHA, falling back to EVAL (which caches it again) after a Redis restart or flush. */
export interface LuaScript {
  run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>
}

export function luaScript(source: string): LuaScript {
  const sha = createHash('sha1').update(source).digest('hex')
  return {
    async run(client, keys, args) {
      try {
        return await client.evalsha(sha, keys.length, ...keys, ...args)
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
        return client.eval(source, keys.length, ...keys, ...args)
      }
    },
  }
}

/** Options for clients that sit on the request path: fail fast rather than queue while Redis is away. */
export function fastFailRedisOptions(commandTimeoutMs: number) {
  return {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 5_000),
  }
}
