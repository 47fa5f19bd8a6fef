import type {Readable} from 'node:stream'

// The port for media bytes. Objects are content-addressed (id = sha256 hex of the bytes), so a put of
// an id that exists is a no-op and objects never change. Access rules live in the core, not here.

export interface MediaStore {
  readonly kind: 'fs' | 's3'
  /** Stores the bytes (exactly `info.size` of them, whose sha256 is `id`); resolves once they are durable. */
  put(id: string, source: MediaSource, info: {contentType: string; size: number}): Promise<void>
  /** The object's bytes as a stream, or undefined when the store does not have it. */
  get(id: string): Promise<MediaObject | undefined>
  has(id: string): Promise<boolean>
  /** A description for logs, without secrets. */
  describe(): string
  close(): Promise<void>
}

/**
 * The bytes, or a staged file holding them. A store may move a staged file into place instead of
 * copying it (the caller removes whatever is left afterwards), or read it more than once to retry.
 */
export type MediaSource = Uint8Array | {path: string}

export interface MediaObject {
  body: Readable
  size: number
  /** As stored with the object, when the store keeps it (the database is the source of truth). */
  contentType?: string
}

/** Media ids are the lower-case hex sha256 of the bytes. */
export const MEDIA_ID_PATTERN = /^[0-9a-f]{64}$/

export function isMediaId(value: unknown): value is string {
  return typeof value === 'string' && MEDIA_ID_PATTERN.test(value)
}
