import {postJson, RequestError, type TokenPair} from '../client/client.js'
import type {WireError} from '../errors.js'
import type {StoredAuth} from './store.js'

// Phone OTP login and token refresh for the chat client (docs/protocol.md, HTTP endpoints).

export interface LoginOptions {
  url: string
  phone: string
  device?: {name: string; platform: string}
  /** Asks the user for the code when the server has no development OTP endpoint. */
  promptCode: (phone: string) => Promise<string>
  /** Told which way the code was obtained (for a status line). */
  onStatus?: (text: string) => void
}

export const PHONE_PATTERN = /^\+[1-9]\d{6,14}$/

/** OTP start → the dev code (servers run with --dev) or the user's → verify. */
export async function login(options: LoginOptions): Promise<StoredAuth> {
  const {url, phone} = options
  if (!PHONE_PATTERN.test(phone)) throw new RequestError({code: 'invalid_request', message: `${phone} is not an E.164 phone number, e.g. +15550001111`})
  await postJson(url, '/v1/auth/otp/start', {phone})
  let code = await devCode(url, phone)
  if (code) options.onStatus?.('development server: code read from /v1/dev/otp')
  else code = (await options.promptCode(phone)).trim()
  const pair = await postJson<TokenPair>(url, '/v1/auth/otp/verify', {phone, code, device: options.device ?? {name: 'msgr chat', platform: 'cli'}})
  return toStored(url, phone, pair)
}

/** Rotates the tokens (the old refresh token stops working: save the result at once). */
export async function refresh(auth: StoredAuth): Promise<StoredAuth> {
  const pair = await postJson<TokenPair>(auth.url, '/v1/auth/refresh', {refreshToken: auth.refreshToken})
  return toStored(auth.url, auth.phone, pair)
}

/** The last code sent to `phone`, when the server exposes GET /v1/dev/otp (started with --dev). */
export async function devCode(url: string, phone: string): Promise<string | undefined> {
  try {
    const res = await fetch(new URL(`/v1/dev/otp?phone=${encodeURIComponent(phone)}`, url))
    if (!res.ok) return undefined
    const body = (await res.json()) as {code?: string; error?: WireError}
    return body.code
  } catch {
    return undefined
  }
}

function toStored(url: string, phone: string, pair: TokenPair): StoredAuth {
  return {
    url,
    phone,
    userId: pair.userId,
    deviceId: pair.deviceId,
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    accessExpiresAt: Date.now() + pair.expiresIn * 1000,
  }
}
