// The notification queue port: a durable work queue of push jobs plus a dead-letter stream. JetStream in
// the services leg (src/adapters/nats/push-queue.ts), memory inside `msgr serve all`; no rules in either.

export interface PushQueueMessage {
  readonly data: Uint8Array
  /** 1 on the first delivery, +1 on every redelivery (nak or ack-wait expiry). */
  readonly deliveryCount: number
  ack(): void
  /** Back to the queue, handed out again after `delayMs`. */
  nak(delayMs?: number): void
  /** Still being worked on: pushes the ack deadline back (held in a batch window or by a rate limit). */
  working(): void
}

export interface DeadLetter {
  /** Position in the dead-letter stream. */
  seq: number
  data: Uint8Array
  reason: string
  attempts: number
  /** ms since epoch. */
  at: number
}

export interface PushQueueConsumer {
  /** Stops taking messages; un-acked ones go back to the queue. */
  stop(): Promise<void>
}

export interface PushQueue {
  readonly kind: 'nats' | 'memory'
  /** Durable once resolved. */
  publish(data: Uint8Array): Promise<void>
  consume(onMessage: (message: PushQueueMessage) => void): Promise<PushQueueConsumer>
  /** Durable once resolved; only then may the original be acked. */
  deadLetter(entry: {data: Uint8Array; reason: string; attempts: number}): Promise<void>
  /** The oldest `limit` dead letters. */
  listDead(limit: number): Promise<DeadLetter[]>
  /** Moves dead letters back onto the queue (oldest first); returns how many moved. */
  redrive(limit?: number): Promise<number>
  close(): Promise<void>
}
