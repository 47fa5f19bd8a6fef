import {z} from 'zod'

import type {MessageEvent} from '../../protocol/frames.js'

// One notification job: "this device missed this message". The worker folds a device's jobs into one
// notification (summary.ts); jobs travel on the push queue as JSON.

export const pushJobSchema = z.object({
  v: z.literal(1),
  user: z.string(),
  device: z.string(),
  conversation: z.string(),
  seq: z.number().int(),
  sender: z.string(),
  kind: z.string(),
  /** A short text preview; null when the content has none (media, encrypted). */
  preview: z.string().nullable(),
  ts: z.string(),
})
export type PushJob = z.infer<typeof pushJobSchema>

export const PREVIEW_CHARS = 120

/** Kinds that never notify: stream entries written by the server, and end-to-end encrypted bodies get no preview. */
const SILENT_KINDS: ReadonlySet<string> = new Set(['system', 'reaction', 'edit', 'delete'])

/** True for events a person would want a notification for. */
export function notifies(event: {ev: string; kind?: string}): event is MessageEvent {
  return event.ev === 'message' && typeof event.kind === 'string' && !SILENT_KINDS.has(event.kind)
}

export function jobFor(event: MessageEvent, user: string, device: string): PushJob {
  return {
    v: 1,
    user,
    device,
    conversation: event.conversation,
    seq: event.seq,
    sender: event.sender,
    kind: event.kind,
    preview: previewOf(event.kind, event.body),
    ts: event.ts,
  }
}

export function previewOf(kind: string, body: unknown): string | null {
  if (kind === 'encrypted') return null
  let text: unknown = body
  if (typeof body === 'object' && body !== null) {
    const b = body as Record<string, unknown>
    text = b.text ?? b.caption ?? (typeof b.name === 'string' ? b.name : undefined)
  }
  if (typeof text !== 'string' || text.trim() === '') return null
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > PREVIEW_CHARS ? `${flat.slice(0, PREVIEW_CHARS - 1)}…` : flat
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeJob(job: PushJob): Uint8Array {
  return encoder.encode(JSON.stringify(job))
}

export function decodeJob(data: Uint8Array): PushJob | undefined {
  try {
    const parsed = pushJobSchema.safeParse(JSON.parse(decoder.decode(data)))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}
