import {createHash, createHmac} from 'node:crypto'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

// A tiny S3 look-alike for adapter tests: path-style PUT/GET/HEAD of objects, with real SigV4
// verification of every request (so a request signed with the wrong key fails as it would on S3).

export interface FakeS3 {
  url: string
  objects: Map<string, {body: Buffer; contentType?: string}>
  /** Every request seen: method, path, and whether its signature checked out. */
  requests: Array<{method: string; path: string; authorization?: string; signatureValid: boolean}>
  /** The next n PUTs answer 500 (to exercise retries). */
  failPuts(n: number): void
  close(): Promise<void>
}

export async function startFakeS3(credentials: {accessKeyId: string; secretAccessKey: string; region: string}, bucket: string): Promise<FakeS3> {
  const objects = new Map<string, {body: Buffer; contentType?: string}>()
  const requests: FakeS3['requests'] = []
  let failingPuts = 0
  const server: Server = createServer((req, res) => void handle(req, res))

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const url = new URL(req.url ?? '/', 'http://local')
    const signatureValid = verifySigV4(req, url, body, credentials)
    requests.push({method: req.method ?? '', path: url.pathname, authorization: req.headers.authorization, signatureValid})
    if (!signatureValid) return xmlError(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.')
    const [, bucketName, ...rest] = url.pathname.split('/')
    const key = decodeURIComponent(rest.join('/'))
    if (bucketName !== bucket) return xmlError(res, 404, 'NoSuchBucket', 'The specified bucket does not exist')
    const object = objects.get(key)
    switch (req.method) {
      case 'PUT':
        if (failingPuts > 0) {
          failingPuts--
          return xmlError(res, 500, 'InternalError', 'We encountered an internal error. Please try again.')
        }
        if (req.headers['content-length'] !== undefined && Number(req.headers['content-length']) !== body.length) {
          return xmlError(res, 400, 'IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header')
        }
        objects.set(key, {body, contentType: req.headers['content-type']})
        res.writeHead(200, {etag: `"${createHash('md5').update(body).digest('hex')}"`, 'content-length': 0}).end()
        return
      case 'HEAD':
        if (!object) return void res.writeHead(404).end()
        res.writeHead(200, {'content-length': object.body.length, 'content-type': object.contentType ?? 'binary/octet-stream'}).end()
        return
      case 'GET':
        if (!object) return xmlError(res, 404, 'NoSuchKey', 'The specified key does not exist.')
        res.writeHead(200, {'content-length': object.body.length, 'content-type': object.contentType ?? 'binary/octet-stream'}).end(object.body)
        return
      default:
        return xmlError(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.')
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    objects,
    requests,
    failPuts: (n) => void (failingPuts = n),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function xmlError(res: ServerResponse, status: number, code: string, message: string): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fake</RequestId></Error>`
  res.writeHead(status, {'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml)}).end(xml)
}

/** AWS Signature Version 4, header form, as S3 checks it. */
function verifySigV4(req: IncomingMessage, url: URL, body: Buffer, credentials: {accessKeyId: string; secretAccessKey: string; region: string}): boolean {
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
    req.headers.authorization ?? '',
  )
  if (!match) return false
  const [, accessKeyId, date, region, signedHeaders, signature] = match as unknown as [string, string, string, string, string, string]
  if (accessKeyId !== credentials.accessKeyId || region !== credentials.region) return false
  const amzDate = req.headers['x-amz-date']
  const payloadHash = req.headers['x-amz-content-sha256']
  if (typeof amzDate !== 'string' || !amzDate.startsWith(date) || typeof payloadHash !== 'string') return false
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== sha256(body)) return false
  const names = signedHeaders.split(';')
  if (!names.includes('host') || !names.includes('x-amz-date')) return false
  const canonicalHeaders = names.map((name) => `${name}:${headerValue(req, name)}\n`).join('')
  const canonicalQuery = [...url.searchParams.entries()]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)])
    .sort(([a, x], [b, y]) => (a! < b! ? -1 : a! > b! ? 1 : x! < y! ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  const canonicalRequest = [req.method, url.pathname, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join('\n')
  const scope = `${date}/${region}/s3/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(Buffer.from(canonicalRequest))].join('\n')
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, date)
  for (const part of [region, 's3', 'aws4_request']) key = hmac(key, part)
  return hmac(key, stringToSign).toString('hex') === signature
}

function headerValue(req: IncomingMessage, name: string): string {
  const value = req.headers[name]
  return (Array.isArray(value) ? value.join(',') : (value ?? '')).trim().replace(/\s+/g, ' ')
}

function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest()
}
