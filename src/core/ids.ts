import {v5 as uuidv5, v7 as uuidv7} from 'uuid'

// Identifier rules shared by every role. Message ids are UUIDv7 (time-ordered, as the seed asks).

const DIRECT_NAMESPACE = '6f1b7c64-3d2a-4e59-9a57-2b8d0c1f7e10'

export function newId(): string {
  return uuidv7()
}

/** The one conversation id for a pair of users, whoever asks first and however often. */
export function directConversationId(a: string, b: string): string {
  const [x, y] = a < b ? [a, b] : [b, a]
  return uuidv5(`direct:${x}:${y}`, DIRECT_NAMESPACE)
}

/** Stable partition of a conversation (FNV-1a): every gateway and worker must agree on it. */
export function partitionOf(conversationId: string, partitions: number): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < conversationId.length; i++) {
    hash ^= conversationId.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % partitions
}

/** Node ids travel in bus subjects and Redis keys: keep them to a safe alphabet. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/
