import {MsgrError} from '../../errors.js'
import {isMediaId} from './media-store.js'

// Messages that carry media: which kinds, what their body looks like, which types each kind takes.

export const MEDIA_KINDS = ['image', 'video', 'audio', 'file'] as const
export type MediaKind = (typeof MEDIA_KINDS)[number]

/** The body of an image/video/audio/file message. Other keys (width, duration, …) pass through. */
export interface MediaBody {
  media: string
  caption?: string
  /** The file name to show or save as. */
  name?: string
  [key: string]: unknown
}

export const MAX_MEDIA_NAME = 255

export function isMediaKind(kind: string): kind is MediaKind {
  return (MEDIA_KINDS as readonly string[]).includes(kind)
}

/** Checks the shape of a media message body; throws invalid_request naming the problem. */
export function parseMediaBody(kind: MediaKind, body: unknown): MediaBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MsgrError('invalid_request', `body: a "${kind}" message has an object body {media, caption?}`)
  }
  const {media, caption, name} = body as Record<string, unknown>
  if (!isMediaId(media)) throw new MsgrError('invalid_request', 'body.media: the id POST /v1/media returned (64 lower-case hex digits)')
  if (caption !== undefined && typeof caption !== 'string') throw new MsgrError('invalid_request', 'body.caption: a string')
  if (name !== undefined && (typeof name !== 'string' || name.length === 0 || name.length > MAX_MEDIA_NAME)) {
    throw new MsgrError('invalid_request', `body.name: a string of 1..${MAX_MEDIA_NAME} characters`)
  }
  return body as MediaBody
}

/** Whether a message of `kind` may carry media of `contentType` ("file" takes any stored type). */
export function kindAccepts(kind: MediaKind, contentType: string): boolean {
  return kind === 'file' || contentType.startsWith(`${kind}/`)
}
