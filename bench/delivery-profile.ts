import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

// Summarises a V8 .cpuprofile (node --cpu-prof) into the hottest frames by self time and the share of
// time per package or source area: `node dist/bench/delivery-profile.js <dir or file> [top]`.
// bench/delivery.ts writes one for `msgr serve all` when MSGR_BENCH_CPU_PROF_DIR is set.

interface ProfileNode {
  id: number
  callFrame: {functionName: string; url: string; lineNumber: number}
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  totalMs: number
  frames: Array<{frame: string; selfMs: number; share: number}>
  areas: Array<{area: string; selfMs: number; share: number}>
}

export function summarise(profile: Profile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const frames = new Map<string, number>()
  const areas = new Map<string, number>()
  let total = 0
  for (const [id, us] of self) {
    const {functionName, url, lineNumber} = byId.get(id)!.callFrame
    const frame = `${functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`
    frames.set(frame, (frames.get(frame) ?? 0) + us)
    areas.set(area(url, functionName), (areas.get(area(url, functionName)) ?? 0) + us)
    total += us
  }
  const rank = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([k, us]) => ({key: k, selfMs: Math.round(us / 100) / 10, share: Math.round((us / total) * 1000) / 10}))
  return {
    totalMs: Math.round(total / 1000),
    frames: rank(frames).slice(0, top).map(({key, ...rest}) => ({frame: key, ...rest})),
    areas: rank(areas).slice(0, top).map(({key, ...rest}) => ({area: key, ...rest})),
  }
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length)
  const dist = url.indexOf('/dist/')
  return dist >= 0 ? url.slice(dist + 6) : url
}

function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm) return nm[1]!
  if (url.startsWith('node:')) return url
  const src = /\/dist\/(src\/[^/]+(?:\/[^/]+)?)/.exec(url)
  return src ? src[1]!.replace(/\.js$/, '') : url
}

if (process.argv[1]?.endsWith('delivery-profile.js')) {
  const target = process.argv[2] ?? '.'
  const files = target.endsWith('.cpuprofile') ? [target] : readdirSync(target).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(target, f))
  for (const file of files) {
    const summary = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(process.argv[3] ?? 25))
    process.stdout.write(`\n${file}: ${summary.totalMs} ms sampled\n\nby area (self time)\n`)
    for (const a of summary.areas) process.stdout.write(`  ${a.share.toFixed(1).padStart(5)}%  ${a.selfMs.toFixed(0).padStart(7)} ms  ${a.area}\n`)
    process.stdout.write('\nhottest frames (self time)\n')
    for (const f of summary.frames) process.stdout.write(`  ${f.share.toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.frame}\n`)
  }
}
