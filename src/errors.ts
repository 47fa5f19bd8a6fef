// The one catalogue of error codes. A code is never reused for a new meaning; docs/errors.md mirrors it
// (test/unit/errors.test.ts keeps them in step).

export interface ErrorSpec {
  /** HTTP status used when the error crosses HTTP, and the family it belongs to on a WebSocket. */
  readonly status: number
  /** A client may retry the same request unchanged (idempotent ops only). */
  readonly retryable: boolean
  readonly description: string
}

export const ERRORS = {
  invalid_json: {status: 400, retryable: false, description: 'The frame or body is not valid JSON (or not UTF-8).'},
  invalid_request: {status: 400, retryable: false, description: 'Arguments are missing, of the wrong type or out of range.'},
  unknown_op: {status: 400, retryable: false, description: 'The `op` is not one this server implements.'},
  unauthenticated: {status: 401, retryable: false, description: 'No valid access token: missing, malformed, expired or revoked.'},
  invalid_refresh_token: {status: 401, retryable: false, description: 'The refresh token is unknown, expired, revoked or was already used.'},
  otp_invalid: {status: 401, retryable: false, description: 'The one-time code is wrong or has expired.'},
  forbidden: {status: 403, retryable: false, description: 'The caller may not do this, e.g. it is not a member of the conversation.'},
  not_found: {status: 404, retryable: false, description: 'The user, conversation or route does not exist.'},
  method_not_allowed: {status: 405, retryable: false, description: 'The HTTP route exists but not with this method.'},
  conflict: {status: 409, retryable: false, description: 'The request conflicts with the current state.'},
  device_mismatch: {status: 409, retryable: false, description: 'An encrypted message does not carry one ciphertext for exactly the current devices of the members; details list the missing, extra and stale devices (fetch their keys, re-encrypt, send again).'},
  too_large: {status: 413, retryable: false, description: 'The frame, body or field is over its size limit.'},
  push_provider_unavailable: {status: 400, retryable: false, description: 'push.register named a push provider this server is not configured for.'},
  unsupported_media_type: {status: 415, retryable: false, description: 'The body is not of a content type this route accepts.'},
  rate_limited: {status: 429, retryable: true, description: 'Too many requests; wait and retry.'},
  otp_attempts_exceeded: {status: 429, retryable: false, description: 'Too many wrong codes; start a new OTP flow.'},
  internal: {status: 500, retryable: true, description: 'An unexpected server error; nothing acknowledged was lost.'},
  unavailable: {status: 503, retryable: true, description: 'A dependency is down or the node is draining; retry (sends are idempotent by clientMsgId).'},
  timeout: {status: 504, retryable: true, description: 'The request was accepted but not confirmed in time; retry with the same clientMsgId to learn its fate.'},
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

/** WebSocket close codes: 1012/1013 tell the client to reconnect, 1008/4401 not to retry unchanged. */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  serviceRestart: 1012,
  overloaded: 1013,
  unauthenticated: 4401,
} as const

export class MsgrError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly details?: Record<string, unknown>

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message)
    this.name = 'MsgrError'
    this.code = code
    this.status = ERRORS[code].status
    this.details = details
  }

  toWire(): WireError {
    return this.details ? {code: this.code, message: this.message, details: this.details} : {code: this.code, message: this.message}
  }
}

export interface WireError {
  code: ErrorCode
  message: string
  details?: Record<string, unknown>
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value)
}

/** Maps anything thrown to a wire error without leaking internals. */
export function toWireError(error: unknown): WireError {
  if (error instanceof MsgrError) return error.toWire()
  return {code: 'internal', message: 'internal error'}
}
