import {randomUUID} from 'node:crypto'
import type {IncomingMessage, ServerResponse} from 'node:http'

import type {z} from 'zod'

import type {Logger} from '../core/logger.js'
import {MsgrError, toWireError} from '../errors.js'
import type {Metrics} from './metrics.js'

// A small JSON router: exact paths, method check, bounded bodies, coded errors.

export interface HttpContext {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  /** The request's id: its X-Request-Id when it sent a sane one, else a new UUID; echoed in the response. */
  requestId: string
}

export interface RouterOptions {
  /** One debug line per answered request (method, path without the query, status, ms) on a child logger carrying `reqId`. */
  logger?: Logger
  metrics?: Pick<Metrics, 'httpRequests' | 'httpSeconds'>
}

export type HttpHandler = (ctx: HttpContext) => Promise<unknown> | unknown

export interface Route {
  method: 'GET' | 'POST'
  path: string
  /** Also matches every path under `path` (which then ends with "/"); the handler reads the rest from `url`. */
  prefix?: boolean
  handler: HttpHandler
}

/** A handler that answers itself (status, headers, body) returns this instead of a JSON value. */
export const HANDLED = Symbol('handled')

/** A JSON answer with a status other than 200. */
export class HttpResult {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

export function createRouter(routes: readonly Route[], onError?: (error: unknown, requestId: string) => void, options: RouterOptions = {}) {
  const byPath = new Map<string, Route[]>()
  for (const route of routes) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route])
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local')
    const header = req.headers['x-request-id']
    const requestId = typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
    res.setHeader('x-request-id', requestId)
    const started = performance.now()
    res.once('finish', () => {
      options.metrics?.httpRequests.inc({status: String(res.statusCode)})
      options.metrics?.httpSeconds.observe((performance.now() - started) / 1000)
      // The query string is left out: it may carry an access token or a phone number.
      options.logger?.debug({reqId: requestId, method: req.method, path: url.pathname, status: res.statusCode, ms: Math.round(performance.now() - started)}, 'http request')
    })
    try {
      const candidates = byPath.get(url.pathname) ?? routes.filter((r) => r.prefix && url.pathname.startsWith(r.path))
      if (candidates.length === 0) throw new MsgrError('not_found', `no route ${url.pathname}`)
      const route = candidates.find((r) => r.method === req.method)
      if (!route) {
        res.setHeader('allow', candidates.map((r) => r.method).join(', '))
        throw new MsgrError('method_not_allowed', `${req.method} is not allowed on ${url.pathname}`)
      }
      const result = await route.handler({req, res, url, requestId})
      if (result === HANDLED || res.writableEnded) return
      if (result instanceof HttpResult) return sendJson(res, result.status, result.body)
      sendJson(res, result === undefined ? 204 : 200, result)
    } catch (error) {
      if (!(error instanceof MsgrError)) onError?.(error, requestId)
      sendError(res, error)
    }
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return
  if (status === 204 || body === undefined) {
    res.writeHead(status).end()
    return
  }
  const text = JSON.stringify(body)
  res.writeHead(status, {'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text)})
  res.end(text)
}

export function sendError(res: ServerResponse, error: unknown): void {
  const wire = toWireError(error)
  const status = error instanceof MsgrError ? error.status : 500
  if (error instanceof MsgrError && error.code === 'rate_limited' && typeof error.details?.retryAfterSec === 'number') {
    res.setHeader('retry-after', String(error.details.retryAfterSec))
  }
  sendJson(res, status, {error: wire})
}

/** Reads and validates a JSON body of at most `maxBytes`. */
export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, maxBytes = 16 * 1024): Promise<z.output<S>> {
  const type = req.headers['content-type'] ?? ''
  if (!/^application\/json\b/i.test(type)) {
    throw new MsgrError('unsupported_media_type', 'send the body as application/json')
  }
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > maxBytes) throw new MsgrError('too_large', `body is over ${maxBytes} bytes`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > maxBytes) throw new MsgrError('too_large', `body is over ${maxBytes} bytes`)
    chunks.push(chunk as Buffer)
  }
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(Buffer.concat(chunks)))
  } catch {
    throw new MsgrError('invalid_json', 'body is not valid JSON')
  }
  const parsed = schema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new MsgrError('invalid_request', issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid body')
  }
  return parsed.data
}
