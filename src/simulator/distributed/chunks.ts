import type {NatsConnection} from '@nats-io/transport-node'

import {subjects} from './messages.js'

// Results travel as the raw UTF-8 bytes of their JSON, cut into chunks under the server's max_payload,
// each one a request the controller acknowledges (so a slow controller slows the sender, never drops).

/** Room left in each chunk for the protocol line and subject. */
const OVERHEAD = 4096
const DEFAULT_MAX_PAYLOAD = 1024 * 1024

export function chunkSize(maxPayload: number | undefined): number {
  return Math.max(1024, (maxPayload ?? DEFAULT_MAX_PAYLOAD) - OVERHEAD)
}

/** Cuts `bytes` into chunks of at most `size` bytes (at least one chunk, even when empty). */
export function cut(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size))
  return chunks.length > 0 ? chunks : [new Uint8Array(0)]
}

export async function sendResult(nc: NatsConnection, runId: string, agentId: string, json: string, timeoutMs: number): Promise<void> {
  const chunks = cut(Buffer.from(json, 'utf8'), chunkSize(nc.info?.max_payload))
  for (let i = 0; i < chunks.length; i++) {
    await nc.request(subjects.result(runId, agentId, i, chunks.length), chunks[i], {timeout: timeoutMs})
  }
}

/** Collects chunks per agent; `add` returns the whole text once the last chunk of an agent is in. */
export class ResultAssembler {
  readonly #parts = new Map<string, Array<Uint8Array | undefined>>()

  add(agentId: string, index: number, total: number, data: Uint8Array): string | undefined {
    if (!Number.isInteger(index) || !Number.isInteger(total) || index < 0 || index >= total) {
      throw new Error(`result chunk ${index}/${total} from agent ${agentId} is out of range`)
    }
    let parts = this.#parts.get(agentId)
    if (!parts || parts.length !== total) {
      parts = new Array<Uint8Array | undefined>(total).fill(undefined)
      this.#parts.set(agentId, parts)
    }
    // Copy: the NATS client may reuse the buffer behind msg.data.
    parts[index] = Uint8Array.from(data)
    if (parts.some((p) => p === undefined)) return undefined
    this.#parts.delete(agentId)
    return Buffer.concat(parts as Uint8Array[]).toString('utf8')
  }
}
