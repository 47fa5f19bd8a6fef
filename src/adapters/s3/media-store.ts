import {GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, type S3ClientConfig} from '@aws-sdk/client-s3'
import {createReadStream} from 'node:fs'
import type {Readable} from 'node:stream'

import {isMediaId, type MediaStore} from '../../core/media/media-store.js'

// Media in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, …) under <prefix><sha256>.

export interface S3MediaStoreOptions {
  bucket: string
  region: string
  /** For S3-compatible servers, e.g. http://minio:9000; unset for AWS. */
  endpoint?: string
  /** Without keys the SDK's default chain applies (environment, shared config, instance role). */
  accessKeyId?: string
  secretAccessKey?: string
  /** Bucket in the path instead of the host name: what MinIO and most self-hosted servers need. */
  forcePathStyle?: boolean
  /** Key prefix, default "media/". */
  prefix?: string
  /** Attempts per request, including the first (default 3). */
  maxAttempts?: number
}

export function createS3MediaStore(options: S3MediaStoreOptions): MediaStore {
  const prefix = options.prefix ?? 'media/'
  const attempts = options.maxAttempts ?? 3
  const config: S3ClientConfig = {
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    credentials:
      options.accessKeyId && options.secretAccessKey ? {accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey} : undefined,
    // Plain PUT/GET without the newer flexible-checksum headers and aws-chunked bodies, which not
    // every S3-compatible server understands.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {connectionTimeout: 5_000, requestTimeout: 60_000},
    maxAttempts: attempts,
    // The SDK would otherwise print some warnings to the console; failures reach the caller as errors.
    logger: {trace() {}, debug() {}, info() {}, warn() {}, error() {}},
  }
  const client = new S3Client(config)
  // A stream body cannot be replayed by the SDK's own retries: puts are retried here, reopening the file.
  const putClient = new S3Client({...config, maxAttempts: 1})
  const keyOf = (id: string) => {
    if (!isMediaId(id)) throw new Error(`not a media id: ${id}`)
    return `${prefix}${id}`
  }

  return {
    kind: 's3',
    async put(id, source, info) {
      const key = keyOf(id)
      for (let attempt = 1; ; attempt++) {
        try {
          await putClient.send(
            new PutObjectCommand({
              Bucket: options.bucket,
              Key: key,
              // A fresh stream for every attempt.
              Body: source instanceof Uint8Array ? source : createReadStream(source.path),
              ContentLength: info.size,
              ContentType: info.contentType,
            }),
          )
          return
        } catch (error) {
          if (attempt >= attempts || !transient(error)) throw error
          await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt))
        }
      }
    },
    async get(id) {
      try {
        const out = await client.send(new GetObjectCommand({Bucket: options.bucket, Key: keyOf(id)}))
        if (!out.Body) return undefined
        return {body: out.Body as Readable, size: Number(out.ContentLength ?? 0), contentType: out.ContentType}
      } catch (error) {
        if (notFound(error)) return undefined
        throw error
      }
    },
    async has(id) {
      try {
        await client.send(new HeadObjectCommand({Bucket: options.bucket, Key: keyOf(id)}))
        return true
      } catch (error) {
        if (notFound(error)) return false
        throw error
      }
    },
    describe: () => `s3:${options.endpoint ?? `aws/${options.region}`}/${options.bucket}/${prefix}`,
    async close() {
      client.destroy()
      putClient.destroy()
    },
  }
}

interface SdkError {
  name?: string
  $retryable?: unknown
  $metadata?: {httpStatusCode?: number}
}

function notFound(error: unknown): boolean {
  const e = error as SdkError
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404
}

/** Network failures, throttling and 5xx: worth another attempt. */
function transient(error: unknown): boolean {
  const e = error as SdkError
  const status = e?.$metadata?.httpStatusCode
  return Boolean(e?.$retryable) || status === undefined || status === 429 || status >= 500
}
