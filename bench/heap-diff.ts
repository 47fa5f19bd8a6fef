import {readFileSync} from 'node:fs'

// `node dist/bench/heap-diff.js before.heapsnapshot after.heapsnapshot [connections]`: what grew between two
// heap snapshots (bench/peers/memory-hook.ts writes them with BENCH_HEAP_SNAPSHOT_DIR), by node type and
// constructor, in objects and self bytes, divided by the connections opened in between.

interface Snapshot {
  snapshot: {meta: {node_fields: string[]; node_types: [string[], ...unknown[]]}}
  nodes: number[]
  strings: string[]
}

type Groups = Map<string, {count: number; bytes: number}>

const [beforeFile, afterFile, perArg] = process.argv.slice(2)
if (!beforeFile || !afterFile) {
  process.stderr.write('usage: node dist/bench/heap-diff.js before.heapsnapshot after.heapsnapshot [connections]\n')
  process.exit(2)
}
const per = Number(perArg ?? 1)
const before = groups(beforeFile)
const after = groups(afterFile)
const rows = [...new Set([...before.keys(), ...after.keys()])]
  .map((key) => {
    const a = before.get(key) ?? {count: 0, bytes: 0}
    const b = after.get(key) ?? {count: 0, bytes: 0}
    return {key, count: (b.count - a.count) / per, bytes: (b.bytes - a.bytes) / per}
  })
  .sort((x, y) => y.bytes - x.bytes)
const total = rows.reduce((sum, r) => sum + r.bytes, 0)
process.stdout.write(`total self bytes per unit: ${total.toFixed(0)}\n`)
process.stdout.write(`${'bytes'.padStart(9)} ${'count'.padStart(8)}  type:name\n`)
for (const r of rows.slice(0, 60)) if (Math.abs(r.bytes) >= 4) process.stdout.write(`${r.bytes.toFixed(1).padStart(9)} ${r.count.toFixed(2).padStart(8)}  ${r.key}\n`)

function groups(file: string): Groups {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const fields = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const out: Groups = new Map()
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!
    // Strings and code are grouped by type only: their names are their contents.
    const named = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' || type === 'array'
    const key = named ? `${type}:${snap.strings[snap.nodes[i + nameAt]!]!.slice(0, 60)}` : type
    const group = out.get(key) ?? {count: 0, bytes: 0}
    group.count++
    group.bytes += snap.nodes[i + sizeAt]!
    out.set(key, group)
  }
  return out
}
