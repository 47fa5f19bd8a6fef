import {isMediaKind, kindAccepts, parseMediaBody} from '../../core/media/message-media.js'
import type {Sql} from '../../core/ports.js'
import {assertMember} from '../../core/store/conversations.js'
import {addMediaRef, mediaAccess} from '../../core/store/media.js'
import {MsgrError} from '../../errors.js'

// The gateway's check for messages that carry media, before they are published: the media exists, the
// sender may use it, and the conversation gets a reference so its members can download it as soon as
// they see the message.

/** The body to publish: unchanged for other kinds; for media kinds with the stored type and size filled in. */
export async function attachMedia(sql: Sql, user: string, message: {conversation: string; kind: string; body: unknown}): Promise<unknown> {
  if (!isMediaKind(message.kind)) return message.body
  const body = parseMediaBody(message.kind, message.body)
  // Checked here as well as by the worker: a non-member must not add references to the conversation.
  await assertMember(sql, message.conversation, user)
  const media = await mediaAccess(sql, body.media, user)
  if (!media) throw new MsgrError('not_found', 'no such media; upload it with POST /v1/media first')
  if (!media.allowed) throw new MsgrError('forbidden', 'you may only send media you uploaded or that was shared in a conversation you are in')
  if (!kindAccepts(message.kind, media.contentType)) {
    throw new MsgrError('invalid_request', `a "${message.kind}" message cannot carry ${media.contentType}; use kind "file"`)
  }
  await addMediaRef(sql, body.media, message.conversation)
  // The server's word on type and size, not the client's.
  return {...body, contentType: media.contentType, size: media.size}
}
