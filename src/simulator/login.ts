import {randomUUID} from 'node:crypto'
import http from 'node:http'
import https from 'node:https'

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
    const auth = createAuthService({
      sql,
      sms: createLogSmsSink(silentLogger()),
      jwtSecret: spec.auth.jwtSecret,
      ...(spec.auth.accessTtlSec ? {accessTtlSec: spec.auth.accessTtlSec} : {}),
    })
    return {login: (phone, device) => auth.issueForPhone(phone, device), refresh, close: () => sql.close()}
  }
  return {login: (phone, device) => loginWithDevOtp(httpBase, phone, device), refresh, close: async () => {}}
}

/** The HTTP base URL of a gateway for this user (via a control plane: GET /v1/connect), or the target itself. */
export async function gatewayUrl(spec: SliceSpec, userId: string): Promise<string> {
  if (spec.target.via === 'gateway') return spec.target.url
  const {status, body} = await getJson<{url?: string; error?: {code: string; message: string}}>(new URL(`/v1/connect?user=${encodeURIComponent(userId)}`, spec.target.url))
  if (status !== 200 || !body.url) {
    const error = new Error(body.error?.message ?? `GET /v1/connect answered ${status}`) as Error & {code?: string}
    error.code = body.error?.code ?? 'unavailable'
    throw error
  }
  return body.url.replace(/^ws/, 'http').replace(/\/v1\/ws.*$/, '')
}

// One routing request per connect: plain node:http on kept-alive sockets costs the simulator a fraction of
// fetch's CPU per request, which matters at 100,000 connects.
const agents = {http: new http.Agent({keepAlive: true, maxSockets: 32}), https: new https.Agent({keepAlive: true, maxSockets: 32})}

/** Closes the kept-alive routing sockets (they would otherwise hold the process open a few seconds). */
export function closeRoutingSockets(): void {
  agents.http.destroy()
  agents.https.destroy()
}

function getJson<T>(url: URL): Promise<{status: number; body: Partial<T>}> {
  const secure = url.protocol === 'https:'
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).get(url, {agent: secure ? agents.https : agents.http, timeout: 30_000}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        let body: Partial<T> = {}
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<T>
        } catch {
          // not JSON: the status tells
        }
        resolve({status: res.statusCode ?? 0, body})
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error(`GET ${url.pathname} timed out`), {code: 'timeout'})))
    req.on('error', (error: Error & {code?: string}) => reject(Object.assign(error, {code: error.code === 'timeout' ? 'timeout' : 'unavailable'})))
  })
}

async function authBaseUrl(spec: SliceSpec): Promise<string> {
  // Auth endpoints live on gateways; through a control plane, ask it for any gateway.
  return spec.target.via === 'gateway' ? spec.target.url : gatewayUrl(spec, randomUUID())
}
