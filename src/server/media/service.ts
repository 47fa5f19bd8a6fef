import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pipeline} from 'node:stream/promises'

import {createFsMediaStore} from '../../adapters/fs/media-store.js'
import {createS3MediaStore} from '../../adapters/s3/media-store.js'
import type {Logger} from '../../core/logger.js'
import {isMediaId, type MediaStore} from '../../core/media/media-store.js'
import {essence, isMediaType, MEDIA_TYPES} from '../../core/media/sniff.js'
import type {Sql} from '../../core/ports.js'
import {mediaAccess, recordUpload} from '../../core/store/media.js'
import {MsgrError} from '../../errors.js'
import {type AccessVerifier, bearerToken} from '../gateway/access-tokens.js'
import type {Identity} from '../gateway/connection.js'
import {HANDLED, type HttpContext, HttpResult, type Route} from '../http.js'
import type {MediaConfig} from './config.js'
import {receiveUpload} from './upload.js'

// The media HTTP API of a gateway: POST /v1/media (upload) and GET /v1/media/<id> (download).

export interface MediaService {
  routes: Route[]
  /** Where the bytes go, or undefined when this gateway has no media storage configured. */
  store?: MediaStore
  close(): Promise<void>
}

export interface MediaDeps {
  sql: Sql
  verifyAccessToken: AccessVerifier
  logger: Logger
}

export async function createMediaService(config: MediaConfig, deps: MediaDeps): Promise<MediaService> {
  const store = await openMediaStore(config)
  const log = deps.logger.child({component: 'media'})
  if (store) log.info({store: store.describe(), maxBytes: config.maxBytes}, 'media storage ready')
  else log.warn('no media storage: uploads and downloads answer 503 (set --media-dir or --s3-bucket)')
  // Next to a media directory, a checked upload is renamed into place rather than copied.
  const spoolDir = config.spoolDir ?? (config.dir ? join(config.dir, 'tmp') : tmpdir())

  const authenticate = async ({req, url}: HttpContext, allowQuery: boolean): Promise<Identity> => {
    const token = bearerToken(req.headers.authorization, allowQuery ? url : undefined)
    if (!token) throw new MsgrError('unauthenticated', 'send Authorization: Bearer <accessToken>')
    return deps.verifyAccessToken(token)
  }
  const storage = (): MediaStore => {
    if (!store) throw new MsgrError('unavailable', 'this gateway has no media storage configured')
    return store
  }
  // A failing bucket or disk is the client's 503 (retry), not a 500.
  const guarded = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (error) {
      if (error instanceof MsgrError) throw error
      log.error({err: error}, 'media storage failed')
      throw new MsgrError('unavailable', 'media storage is unavailable; retry')
    }
  }

  const upload = async (ctx: HttpContext): Promise<HttpResult> => {
    const {req, res} = ctx
    try {
      const who = await authenticate(ctx, false)
      const target = storage()
      const claimed = claimedType(req.headers['content-type'])
      const received = await receiveUpload(req, {maxBytes: config.maxBytes, spoolDir})
      try {
        if (!received.sniffed) throw new MsgrError('unsupported_media_type', `the bytes are none of: ${ACCEPTED}`)
        if (claimed && claimed !== received.sniffed) {
          throw new MsgrError('unsupported_media_type', `the bytes are ${received.sniffed}, not ${claimed}`, {detected: received.sniffed})
        }
        const info = {contentType: received.sniffed, size: received.size}
        await guarded(async () => {
          if (!(await target.has(received.id))) await target.put(received.id, {path: received.file}, info)
        })
        const stored = await recordUpload(deps.sql, {id: received.id, ...info, user: who.userId})
        return new HttpResult(201, {id: received.id, contentType: stored.contentType, size: stored.size})
      } finally {
        await received.discard()
      }
    } catch (error) {
      // Refused before the body was read to its end: do not keep the connection for what is left of it.
      if (!req.complete) res.setHeader('connection', 'close')
      throw error
    }
  }

  const download = async (ctx: HttpContext): Promise<typeof HANDLED> => {
    const {req, res, url} = ctx
    const id = url.pathname.slice(MEDIA_PREFIX.length)
    const who = await authenticate(ctx, true)
    if (!isMediaId(id)) throw new MsgrError('not_found', 'no such media')
    const access = await mediaAccess(deps.sql, id, who.userId)
    if (!access) throw new MsgrError('not_found', 'no such media')
    if (!access.allowed) throw new MsgrError('forbidden', 'only its uploader and members of conversations it was sent to may download this media')
    const headers = {
      etag: `"${id}"`,
      'cache-control': 'private, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
    }
    if (req.headers['if-none-match']?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === headers.etag)) {
      res.writeHead(304, headers).end()
      return HANDLED
    }
    const object = await guarded(() => storage().get(id))
    if (!object) {
      log.error({id}, 'media is recorded but its bytes are not in this gateway’s store (is the media directory shared by every gateway?)')
      throw new MsgrError('unavailable', 'media bytes are not reachable from this gateway; retry')
    }
    res.writeHead(200, {
      ...headers,
      'content-type': access.contentType === 'text/plain' ? 'text/plain; charset=utf-8' : access.contentType,
      'content-length': access.size,
    })
    await pipeline(object.body, res).catch((error: unknown) => {
      // The client went away, or the store failed mid-body: the response cannot be repaired, only ended.
      if (!res.destroyed) log.warn({err: error, id}, 'media download cut off')
      res.destroy()
    })
    return HANDLED
  }

  return {
    store,
    routes: [
      {method: 'POST', path: '/v1/media', handler: upload},
      {method: 'GET', path: MEDIA_PREFIX, prefix: true, handler: download},
    ],
    async close() {
      await store?.close()
    },
  }
}

/** Opens the configured media store: a bucket, a directory, or none. */
export async function openMediaStore(config: MediaConfig): Promise<MediaStore | undefined> {
  if (config.s3) return createS3MediaStore(config.s3)
  if (config.dir) return createFsMediaStore({dir: config.dir})
  return undefined
}

const MEDIA_PREFIX = '/v1/media/'
const ACCEPTED = MEDIA_TYPES.join(', ')

/** The type the client claims, undefined when it leaves the decision to the server (no header, octet-stream). */
function claimedType(header: string | undefined): string | undefined {
  if (!header) return undefined
  const type = essence(header)
  if (type === 'application/octet-stream') return undefined
  if (!isMediaType(type)) throw new MsgrError('unsupported_media_type', `${type} is not accepted; send one of: ${ACCEPTED}`)
  return type
}
