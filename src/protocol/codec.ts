import type {z} from 'zod'

import {MsgrError, type WireError} from '../errors.js'
import {isOpName, LIMITS, requestSchemas, type Reply, type Request, type ServerEvent} from './frames.js'

// Bytes in, frames out: no I/O, so every malformed input is testable without a socket.

export type Decoded = {ok: true; request: Request} | {ok: false; re?: string; error: WireError}

const utf8 = new TextDecoder('utf-8', {fatal: true})

export function decodeRequest(data: Buffer | string, maxBytes: number = LIMITS.maxFrameBytes): Decoded {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
  if (size > maxBytes) {
    return fail(undefined, new MsgrError('too_large', `frame is ${size} bytes; the limit is ${maxBytes}`))
  }
  let text: string
  try {
    text = typeof data === 'string' ? data : utf8.decode(data)
  } catch {
    return fail(undefined, new MsgrError('invalid_json', 'frame is not valid UTF-8'))
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return fail(undefined, new MsgrError('invalid_json', 'frame is not valid JSON'))
  }
  return validateFrame(raw, 'JSON')
}

/** Checks a parsed frame (from any codec): one object with `id`, a known `op` and that op's arguments. */
export function validateFrame(raw: unknown, format: string): Decoded {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail(undefined, new MsgrError('invalid_request', `a frame is one ${format} object`))
  }
  const frame = raw as Record<string, unknown>
  const id = frame.id
  const re = typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined
  if (re === undefined) {
    return fail(undefined, new MsgrError('invalid_request', '`id` must be a non-empty string of at most 128 characters'))
  }
  if (typeof frame.op !== 'string') return fail(re, new MsgrError('invalid_request', '`op` must be a string'))
  if (!isOpName(frame.op)) return fail(re, new MsgrError('unknown_op', `unknown op "${frame.op.slice(0, 64)}"`))
  const {id: _id, op, ...rest} = frame
  const schema = requestSchemas[frame.op] as z.ZodType
  const parsed = schema.safeParse(rest)
  if (!parsed.success) return fail(re, new MsgrError('invalid_request', describeIssues(parsed.error)))
  return {ok: true, request: {id: re, op, args: parsed.data} as Request}
}

export function encodeReply(re: string, result: object): string {
  return JSON.stringify({re, ok: true, ...result})
}

export function encodeErrorReply(re: string, error: WireError): string {
  return JSON.stringify({re, ok: false, error} satisfies Reply)
}

export function encodeEvent(event: ServerEvent): string {
  return JSON.stringify(event)
}

export function fail(re: string | undefined, error: MsgrError): Decoded {
  return {ok: false, re, error: error.toWire()}
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ')
}
