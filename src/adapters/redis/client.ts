import {Redis, type RedisOptions} from 'ioredis'

// The one way msgr's Redis adapters open and close their connections.

/** Commands fail after a couple of reconnect attempts instead of waiting for Redis forever. */
const RESILIENT: RedisOptions = {
  lazyConnect: false,
  enableOfflineQueue: true,
  maxRetriesPerRequest: 2,
  retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
}

export function openRedis(url: string, options: {onError?: (error: unknown) => void; overrides?: RedisOptions} = {}): Redis {
  const client = new Redis(url, {...RESILIENT, ...options.overrides})
  // Without a listener ioredis reports every connection error as unhandled.
  client.on('error', options.onError ?? (() => {}))
  return client
}

export async function closeRedis(client: Redis): Promise<void> {
  try {
    await client.quit()
  } catch {
    client.disconnect()
  }
}
