import {createHash} from 'node:crypto'

// Rendezvous (highest-random-weight) hashing: each partition goes to the worker with the highest
// hash(worker, partition). A worker joining or leaving moves only the partitions it wins or held.

export function assignPartitions(workers: readonly string[], partitions: number): Map<string, number[]> {
  const out = new Map<string, number[]>(workers.map((w) => [w, []]))
  if (workers.length === 0) return out
  for (let p = 0; p < partitions; p++) out.get(ownerOf(workers, p))!.push(p)
  return out
}

export function ownerOf(workers: readonly string[], partition: number): string {
  let best = workers[0]!
  let bestScore = -1n
  for (const worker of workers) {
    const score = createHash('sha256').update(`${worker}\u0000${partition}`).digest().readBigUInt64BE(0)
    if (score > bestScore || (score === bestScore && worker < best)) {
      best = worker
      bestScore = score
    }
  }
  return best
}
