// Reads a few process figures from a node's Prometheus /metrics, for the capacity model (best effort).

export interface ServerSample {
  cpuSeconds?: number
  rssBytes?: number
  connections?: number
}

export async function readServerSample(baseUrl: string, timeoutMs = 3000): Promise<ServerSample | undefined> {
  try {
    const res = await fetch(new URL('/metrics', baseUrl), {signal: AbortSignal.timeout(timeoutMs)})
    if (!res.ok) return undefined
    return parseServerSample(await res.text())
  } catch {
    return undefined
  }
}

export function parseServerSample(text: string): ServerSample {
  const sample: ServerSample = {}
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const match = /^([a-z_:]+)(?:\{[^}]*\})?\s+(\S+)/.exec(line)
    if (!match) continue
    const [, name, raw] = match
    const value = Number(raw)
    if (!Number.isFinite(value)) continue
    if (name!.endsWith('process_cpu_seconds_total')) sample.cpuSeconds = value
    else if (name!.endsWith('process_resident_memory_bytes')) sample.rssBytes = value
    else if (name === 'msgr_ws_connections') sample.connections = (sample.connections ?? 0) + value
  }
  return sample
}
