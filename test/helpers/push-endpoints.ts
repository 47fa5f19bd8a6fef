import {createDecipheriv, createECDH, generateKeyPairSync, hkdfSync, randomBytes, randomUUID} from 'node:crypto'
import {createServer, type IncomingMessage, type Server} from 'node:http'
import {createServer as createH2Server, type Http2Server} from 'node:http2'
import type {AddressInfo} from 'node:net'

import {decodeProtectedHeader, importJWK, importSPKI, jwtVerify} from 'jose'

import type {WebPushSubscription} from '../../src/core/push/provider.js'

// Local HTTP endpoints that speak the push providers' protocols and check what they are sent: Web Push
// (VAPID signature checked, aes128gcm payload decrypted with the subscription's own keys, RFC 8291),
// FCM HTTP v1 (OAuth2 JWT-bearer token exchange, then messages:send) and APNs (HTTP/2 cleartext,
// ES256 provider token). No external network.

export interface Received {
  token: string
  /** The notification as the device would see it (Web Push: decrypted; FCM: message; APNs: body). */
  payload: Record<string, unknown>
  headers: Record<string, string | string[] | undefined>
  status: number
}

interface Recorder {
  received: Received[]
  /** Status answered per token (default 201/200); `*` for every token. */
  answer: Map<string, number>
  statusFor(token: string, ok: number): number
  close(): Promise<void>
}

function recorder(close: () => Promise<void>): Recorder {
  const answer = new Map<string, number>()
  return {received: [], answer, statusFor: (token, ok) => answer.get(token) ?? answer.get('*') ?? ok, close}
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function listen(server: Server | Http2Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const b64u = (b: Buffer | Uint8Array) => Buffer.from(b).toString('base64url')

// ---- Web Push ----

export interface WebPushEndpoint extends Recorder {
  url: string
  vapid: {publicKey: string; privateKey: string; subject: string}
  /** A browser-like subscription: a fresh P-256 key pair and auth secret this endpoint decrypts with. */
  subscribe(): WebPushSubscription
}

export async function startWebPushEndpoint(vapid: {publicKey: string; privateKey: string; subject: string}): Promise<WebPushEndpoint> {
  const keys = new Map<string, {ecdh: ReturnType<typeof createECDH>; auth: Buffer}>()
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req)
      const id = (req.url ?? '').split('/').pop()!
      const sub = keys.get(id)
      if (!sub) return res.writeHead(404).end('no such subscription')
      const problem = await checkVapid(req, base, vapid.publicKey)
      if (problem) return res.writeHead(401).end(problem)
      if (req.headers['content-encoding'] !== 'aes128gcm') return res.writeHead(415).end('aes128gcm expected')
      if (!req.headers.ttl) return res.writeHead(400).end('TTL header missing')
      const payload = JSON.parse(decrypt(body, sub.ecdh, sub.auth).toString('utf8')) as Record<string, unknown>
      const status = endpoint.statusFor(id, 201)
      endpoint.received.push({token: id, payload, headers: req.headers, status})
      res.writeHead(status, status === 201 ? {location: `${base}/messages/${randomUUID()}`} : {}).end()
    })().catch((error: unknown) => res.writeHead(400).end(String(error)))
  })
  const base = await listen(server)
  const endpoint: WebPushEndpoint = {
    ...recorder(() => new Promise((r) => server.close(() => r()))),
    url: base,
    vapid,
    subscribe() {
      const id = randomUUID()
      const ecdh = createECDH('prime256v1')
      ecdh.generateKeys()
      const auth = randomBytes(16)
      keys.set(id, {ecdh, auth})
      return {endpoint: `${base}/push/${id}`, keys: {p256dh: b64u(ecdh.getPublicKey()), auth: b64u(auth)}}
    },
  }
  return endpoint
}

/** RFC 8292: `Authorization: vapid t=<JWT>, k=<public key>`; the JWT is ES256 over the endpoint's origin. */
async function checkVapid(req: IncomingMessage, origin: string, publicKey: string): Promise<string | undefined> {
  const match = /^vapid t=([^,]+),\s*k=(.+)$/.exec(req.headers.authorization ?? '')
  if (!match) return 'no VAPID authorization'
  if (match[2] !== publicKey) return 'unexpected VAPID key'
  const raw = Buffer.from(publicKey, 'base64url')
  const key = await importJWK({kty: 'EC', crv: 'P-256', x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33, 65))}, 'ES256')
  const {payload} = await jwtVerify(match[1]!, key, {audience: origin}).catch((e: unknown) => ({payload: undefined, e}))
  if (!payload) return 'bad VAPID signature or audience'
  if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') return 'VAPID claims missing'
  return undefined
}

/** RFC 8291 + RFC 8188 (one record). */
function decrypt(body: Buffer, ecdh: ReturnType<typeof createECDH>, auth: Buffer): Buffer {
  const salt = body.subarray(0, 16)
  const idlen = body[20]!
  const serverKey = body.subarray(21, 21 + idlen)
  const record = body.subarray(21 + idlen)
  const shared = ecdh.computeSecret(serverKey)
  const info = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), serverKey])
  const ikm = Buffer.from(hkdfSync('sha256', shared, auth, info, 32))
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16))
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12))
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce)
  decipher.setAuthTag(record.subarray(record.length - 16))
  const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()])
  let end = plain.length - 1
  while (end >= 0 && plain[end] === 0) end--
  if (plain[end] !== 2) throw new Error('last record delimiter (0x02) missing')
  return plain.subarray(0, end)
}

// ---- FCM HTTP v1 ----

export interface FcmEndpoint extends Recorder {
  url: string
  serviceAccount: {project_id: string; client_email: string; private_key: string; token_uri: string}
  tokensIssued: number
}

export async function startFcmEndpoint(): Promise<FcmEndpoint> {
  const {privateKey, publicKey} = generateKeyPairSync('rsa', {modulusLength: 2048})
  const spki = publicKey.export({type: 'spki', format: 'pem'}).toString()
  const issued = new Set<string>()
  const server = createServer((req, res) => {
    void (async () => {
      const body = (await readBody(req)).toString('utf8')
      if (req.url === '/token') {
        const form = new URLSearchParams(body)
        if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return res.writeHead(400).end('bad grant_type')
        const key = await importSPKI(spki, 'RS256')
        const {payload} = await jwtVerify(form.get('assertion') ?? '', key, {audience: `${base}/token`, issuer: endpoint.serviceAccount.client_email})
        if (payload.scope !== 'https://www.googleapis.com/auth/firebase.messaging') return res.writeHead(400).end('bad scope')
        const token = randomUUID()
        issued.add(token)
        endpoint.tokensIssued++
        return res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({access_token: token, expires_in: 3600, token_type: 'Bearer'}))
      }
      if (req.url !== `/v1/projects/${endpoint.serviceAccount.project_id}/messages:send`) return res.writeHead(404).end()
      if (!issued.has((req.headers.authorization ?? '').replace(/^Bearer /, ''))) return res.writeHead(401).end('{"error":{"status":"UNAUTHENTICATED"}}')
      const message = (JSON.parse(body) as {message: Record<string, unknown> & {token: string}}).message
      const status = endpoint.statusFor(message.token, 200)
      endpoint.received.push({token: message.token, payload: message, headers: req.headers, status})
      if (status === 200) return res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({name: `projects/p/messages/${randomUUID()}`}))
      const error = status === 404 ? {status: 'NOT_FOUND', details: [{errorCode: 'UNREGISTERED'}]} : {status: 'UNAVAILABLE'}
      res.writeHead(status, {'content-type': 'application/json'}).end(JSON.stringify({error: {code: status, ...error}}))
    })().catch((error: unknown) => res.writeHead(400).end(String(error)))
  })
  const base = await listen(server)
  const endpoint: FcmEndpoint = {
    ...recorder(() => new Promise((r) => server.close(() => r()))),
    url: base,
    tokensIssued: 0,
    serviceAccount: {
      project_id: 'msgr-test',
      client_email: 'push@msgr-test.iam.gserviceaccount.com',
      private_key: privateKey.export({type: 'pkcs8', format: 'pem'}).toString(),
      token_uri: `${base}/token`,
    },
  }
  return endpoint
}

// ---- APNs (HTTP/2) ----

export interface ApnsEndpoint extends Recorder {
  url: string
  key: {keyId: string; teamId: string; privateKey: string; topic: string}
}

export async function startApnsEndpoint(): Promise<ApnsEndpoint> {
  const {privateKey, publicKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
  const spki = publicKey.export({type: 'spki', format: 'pem'}).toString()
  const key = {keyId: 'ABC123DEFG', teamId: 'TEAM123456', privateKey: privateKey.export({type: 'pkcs8', format: 'pem'}).toString(), topic: 'chat.msgr.app'}
  const server = createH2Server()
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => {
      void (async () => {
        const path = String(headers[':path'])
        const token = decodeURIComponent(path.replace(/^\/3\/device\//, ''))
        const jwt = String(headers.authorization ?? '').replace(/^bearer /, '')
        const header = decodeProtectedHeader(jwt)
        if (headers[':method'] !== 'POST' || !path.startsWith('/3/device/')) return reply(404, {reason: 'BadPath'})
        if (header.alg !== 'ES256' || header.kid !== key.keyId) return reply(403, {reason: 'InvalidProviderToken'})
        await jwtVerify(jwt, await importSPKI(spki, 'ES256'), {issuer: key.teamId})
        if (headers['apns-topic'] !== key.topic) return reply(400, {reason: 'DeviceTokenNotForTopic'})
        if (headers['apns-push-type'] !== 'alert') return reply(400, {reason: 'InvalidPushType'})
        const status = endpoint.statusFor(token, 200)
        endpoint.received.push({token, payload: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, headers, status})
        reply(status, status === 410 ? {reason: 'Unregistered'} : status === 200 ? undefined : {reason: 'ServiceUnavailable'})
      })().catch(() => reply(403, {reason: 'InvalidProviderToken'}))
    })
    function reply(status: number, body?: object) {
      stream.respond({':status': status, 'apns-id': randomUUID()})
      stream.end(body ? JSON.stringify(body) : undefined)
    }
  })
  const base = await listen(server)
  const endpoint: ApnsEndpoint = {
    ...recorder(
      () =>
        new Promise((r) => {
          server.close(() => r())
          // Clients keep HTTP/2 sessions open; close() waits for them otherwise.
          setTimeout(r, 200)
        }),
    ),
    url: base,
    key,
  }
  return endpoint
}
