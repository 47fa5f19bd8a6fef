import {renameSync, writeFileSync} from 'node:fs'

// Preloaded into every benchmarked server process (`node --expose-gc --import …/memory-hook.js`), so the
// delivery benchmark measures all of them alike from outside: on SIGUSR2 the process collects garbage and
// writes its memory figures to $BENCH_MEMORY_FILE. Loaded only by bench/delivery.ts, never by msgr itself.

const file = process.env.BENCH_MEMORY_FILE
if (file) {
  process.on('SIGUSR2', () => {
    const gc = (globalThis as {gc?: () => void}).gc
    gc?.()
    gc?.()
    const m = process.memoryUsage()
    writeFileSync(`${file}.tmp`, JSON.stringify({rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, gc: Boolean(gc)}))
    renameSync(`${file}.tmp`, file) // the reader never sees half a file
  })
}
