// Deadlines for many items behind one timer: a binary min-heap ordered by deadline, with each item's slot
// kept on the item so it leaves in O(log n) when it goes away first. One Timeout for the whole gateway
// instead of one Timeout and closure per socket (token expiry).

export interface Expiring {
  /** ms on the queue's clock (`performance.now()` by default); set by `add`. */
  deadline: number
  /** Index in the heap, -1 when not queued; kept by the queue. */
  slot: number
}

export interface ExpiryQueue<T extends Expiring> {
  /** Queues `item` to expire `delayMs` from now (clamped to setTimeout's range by the caller). */
  add(item: T, delayMs: number): void
  delete(item: T): void
  size(): number
}

export function createExpiryQueue<T extends Expiring>(onExpire: (item: T) => void, now: () => number = () => performance.now()): ExpiryQueue<T> {
  const heap: T[] = []
  let timer: NodeJS.Timeout | undefined
  let armedFor = Infinity

  const place = (item: T, i: number) => {
    heap[i] = item
    item.slot = i
  }
  const up = (i: number) => {
    const item = heap[i]!
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]!.deadline <= item.deadline) break
      place(heap[parent]!, i)
      i = parent
    }
    place(item, i)
  }
  const down = (i: number) => {
    const item = heap[i]!
    for (;;) {
      let child = 2 * i + 1
      if (child >= heap.length) break
      if (child + 1 < heap.length && heap[child + 1]!.deadline < heap[child]!.deadline) child++
      if (heap[child]!.deadline >= item.deadline) break
      place(heap[child]!, i)
      i = child
    }
    place(item, i)
  }
  const remove = (item: T) => {
    const i = item.slot
    item.slot = -1
    const last = heap.pop()!
    if (last === item) return
    place(last, i)
    if (i > 0 && heap[(i - 1) >> 1]!.deadline > last.deadline) up(i)
    else down(i)
  }
  // The timer follows the earliest deadline; it is replaced only when that changes.
  const arm = () => {
    const first = heap[0]
    if (!first) {
      clearTimeout(timer)
      timer = undefined
      armedFor = Infinity
      return
    }
    if (timer && armedFor === first.deadline) return
    clearTimeout(timer)
    armedFor = first.deadline
    timer = setTimeout(fire, Math.max(0, Math.ceil(first.deadline - now()))).unref()
  }
  const fire = () => {
    timer = undefined
    // Timers run on the event loop's millisecond clock, which may trail `now()` by under a millisecond.
    const until = now() + 1
    while (heap.length > 0 && heap[0]!.deadline <= until) {
      const item = heap[0]!
      remove(item)
      onExpire(item)
    }
    arm()
  }

  return {
    add(item, delayMs) {
      if (item.slot >= 0) remove(item)
      // Whole milliseconds: a small integer is stored in the item itself, a fraction would be a heap number.
      item.deadline = Math.ceil(now() + delayMs)
      heap.push(item)
      up(heap.length - 1)
      arm()
    },
    delete(item) {
      if (item.slot < 0) return
      remove(item)
      arm()
    },
    size: () => heap.length,
  }
}
