import {MsgrError} from '../../errors.js'
import type {Logger} from '../logger.js'
import type {Sql} from '../ports.js'

/** Where one-time codes go. Implementations throw MsgrError('unavailable') when delivery fails. */
export interface SmsSink {
  send(phone: string, code: string): Promise<void>
}

/** Development only: the code lands in the log, which is no place for it in production. */
export function createLogSmsSink(logger: Logger): SmsSink {
  return {
    async send(phone, code) {
      logger.info({phone, code}, 'otp code')
    },
  }
}

/** Development only: log, plus dev_otp_outbox so GET /v1/dev/otp works from any gateway. */
export function createDevSmsSink(sql: Sql, logger: Logger): SmsSink {
  const log = createLogSmsSink(logger)
  return {
    async send(phone, code) {
      await sql.query(
        `INSERT INTO dev_otp_outbox (phone, code, created_at) VALUES ($1, $2, now())
         ON CONFLICT (phone) DO UPDATE SET code = EXCLUDED.code, created_at = EXCLUDED.created_at`,
        [phone, code],
      )
      await log.send(phone, code)
    },
  }
}

export interface WebhookSmsOptions {
  /** The operator's SMS bridge; receives POST {"phone", "code"} as JSON. */
  url: string
  /** Extra request headers, e.g. the bridge's Authorization. */
  headers?: Record<string, string>
  timeoutMs?: number
  fetch?: typeof fetch
}

export function createWebhookSmsSink(options: WebhookSmsOptions): SmsSink {
  const url = parseHttpUrl(options.url)
  const doFetch = options.fetch ?? fetch
  const timeoutMs = options.timeoutMs ?? 10_000
  return {
    async send(phone, code) {
      let response: Response
      try {
        response = await doFetch(url, {
          method: 'POST',
          headers: {...options.headers, 'content-type': 'application/json'},
          body: JSON.stringify({phone, code}),
          signal: AbortSignal.timeout(timeoutMs),
        })
      } catch (error) {
        throw new MsgrError('unavailable', `SMS bridge unreachable: ${(error as Error).message}`)
      }
      // Drain the body so the connection can be reused.
      await response.arrayBuffer().catch(() => undefined)
      if (!response.ok) throw new MsgrError('unavailable', `SMS bridge answered HTTP ${response.status}`)
    },
  }
}

function parseHttpUrl(raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new Error(`SMS webhook URL is not a valid URL: ${raw}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`SMS webhook URL must be http(s): ${raw}`)
  return url.toString()
}
