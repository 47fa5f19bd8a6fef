import {randomUUID} from 'node:crypto'

import {createPostgresSql} from '../adapters/postgres/sql.js'
import {loginWithDevOtp, postJson, type TokenPair} from '../client/client.js'
import {createAuthService} from '../core/auth/auth-service.js'
import {createLogSmsSink} from '../core/auth/sms.js'
import {silentLogger} from '../core/logger.js'
import type {SliceSpec} from './types.js'

// Where virtual devices get their tokens: the development OTP endpoint, or issued directly against the
// cluster's Postgres with its JWT secret (the fast path for many users), and where they connect.

export interface TokenSource {
  /** A new device (and its session) for the user with this phone. */
  login(phone: string, device: {name: string; platform: string}): Promise<TokenPair>
  refresh(refreshToken: string): Promise<TokenPair>
  close(): Promise<void>
}

export async function createTokenSource(spec: SliceSpec): Promise<TokenSource> {
  const httpBase = await authBaseUrl(spec)
  const refresh = (refreshToken: string) => postJson<TokenPair>(httpBase, '/v1/auth/refresh', {refreshToken})
  if (spec.auth) {
    const sql = createPostgresSql({url: spec.auth.databaseUrl, max: 4, applicationName: 'msgr-sim'})
    const auth = createAuthService({sql, sms: createLogSmsSink(silentLogger()), jwtSecret: spec.auth.jwtSecret})
    return {login: (phone, device) => auth.issueForPhone(phone, device), refresh, close: () => sql.close()}
  }
  return {login: (phone, device) => loginWithDevOtp(httpBase, phone, device), refresh, close: async () => {}}
}

/** The HTTP base URL of a gateway for this user (via a control plane: GET /v1/connect), or the target itself. */
export async function gatewayUrl(spec: SliceSpec, userId: string): Promise<string> {
  if (spec.target.via === 'gateway') return spec.target.url
  const res = await fetch(new URL(`/v1/connect?user=${encodeURIComponent(userId)}`, spec.target.url))
  const body = (await res.json().catch(() => ({}))) as {url?: string; error?: {code: string; message: string}}
  if (!res.ok || !body.url) {
    const error = new Error(body.error?.message ?? `GET /v1/connect answered ${res.status}`) as Error & {code?: string}
    error.code = body.error?.code ?? 'unavailable'
    throw error
  }
  return body.url.replace(/^ws/, 'http').replace(/\/v1\/ws.*$/, '')
}

async function authBaseUrl(spec: SliceSpec): Promise<string> {
  // Auth endpoints live on gateways; through a control plane, ask it for any gateway.
  return spec.target.via === 'gateway' ? spec.target.url : gatewayUrl(spec, randomUUID())
}
