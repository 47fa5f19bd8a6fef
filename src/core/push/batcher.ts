// Batching per device: the first job of a burst opens a window; everything that arrives for the device
// before the window closes (or until the batch is full) becomes one notification. No timers here: the
// caller asks when the next batch is due and takes it.

export interface BatchRule {
  windowMs: number
  maxBatch: number
}

export const BATCH_DEFAULTS: BatchRule = {windowMs: 2000, maxBatch: 100}

export interface Batch<T> {
  device: string
  items: T[]
  /** When the batch may be flushed (window end, or later when rate-limited). */
  dueAt: number
}

export class DeviceBatcher<T> {
  private readonly open = new Map<string, Batch<T>>()

  constructor(private readonly rule: BatchRule) {}

  /** Adds an item; returns the batch it joined (due now when full). */
  add(device: string, item: T, now: number): Batch<T> {
    let batch = this.open.get(device)
    if (!batch) this.open.set(device, (batch = {device, items: [], dueAt: now + this.rule.windowMs}))
    batch.items.push(item)
    if (batch.items.length >= this.rule.maxBatch) batch.dueAt = Math.min(batch.dueAt, now)
    return batch
  }

  /** Batches whose time has come, removed from the batcher. */
  takeDue(now: number): Batch<T>[] {
    const due: Batch<T>[] = []
    for (const [device, batch] of this.open) {
      if (batch.dueAt <= now) {
        this.open.delete(device)
        due.push(batch)
      }
    }
    return due
  }

  /** Puts a batch back (rate-limited), due again at `dueAt`; items that arrived meanwhile join it. */
  defer(batch: Batch<T>, dueAt: number): void {
    const current = this.open.get(batch.device)
    if (current) {
      current.items.unshift(...batch.items)
      current.dueAt = Math.max(current.dueAt, dueAt)
    } else {
      this.open.set(batch.device, {...batch, dueAt})
    }
  }

  /** Earliest due time of any open batch, or undefined when empty. */
  nextDueAt(): number | undefined {
    let next: number | undefined
    for (const batch of this.open.values()) if (next === undefined || batch.dueAt < next) next = batch.dueAt
    return next
  }

  /** Everything still held (on stop: handed back to the queue). */
  drain(): T[] {
    const items = [...this.open.values()].flatMap((b) => b.items)
    this.open.clear()
    return items
  }

  /** Every item held, in no particular order. */
  items(): T[] {
    return [...this.open.values()].flatMap((b) => b.items)
  }

  size(): number {
    let n = 0
    for (const batch of this.open.values()) n += batch.items.length
    return n
  }
}
