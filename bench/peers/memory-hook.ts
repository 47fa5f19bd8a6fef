import {renameSync, writeFileSync} from 'node:fs'
import {basename, join} from 'node:path'
import {writeHeapSnapshot} from 'node:v8'

// Preloaded into every benchmarked server process (`node --expose-gc --import …/memory-hook.js`), so the
// delivery benchmark measures all of them alike from outside: on SIGUSR2 the process collects garbage and
// writes its memory figures to $BENCH_MEMORY_FILE. Loaded only by bench/delivery.ts, never by msgr itself.
// With BENCH_HEAP_SNAPSHOT_DIR=dir each reading also writes a heap snapshot there (<process>-<pid>-<n>.heapsnapshot),
// for `node dist/bench/heap-diff.js before after` (what the bytes per connection are made of).

const file = process.env.BENCH_MEMORY_FILE
let readings = 0
if (file) {
  process.on('SIGUSR2', () => {
    const gc = (globalThis as {gc?: () => void}).gc
    gc?.()
    gc?.()
    const m = process.memoryUsage()
    const dir = process.env.BENCH_HEAP_SNAPSHOT_DIR
    const name = `${basename(file, '.memory.json')}-${process.pid}-${readings++}.heapsnapshot`
    const snapshot = dir ? writeHeapSnapshot(join(dir, name)) : undefined
    writeFileSync(`${file}.tmp`, JSON.stringify({rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, gc: Boolean(gc), snapshot}))
    renameSync(`${file}.tmp`, file) // the reader never sees half a file
  })
}
