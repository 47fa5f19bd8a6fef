import {randomBytes} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {mkdir, mkdtemp, open, rename, rm, stat} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {loginWithDevOtp} from '../src/client/client.js'
import {silentLogger} from '../src/core/logger.js'
import {migrate} from '../src/core/store/migrate.js'
import {createAdapters} from '../src/server/adapters.js'
import {parseNodeConfig} from '../src/server/config.js'
import {startNode} from '../src/server/node.js'
import {fmtRatio, median, progress, round} from './measure.js'
import type {Table} from './table.js'

// Media throughput over HTTP on one embedded gateway with the filesystem store: POST /v1/media (limit,
// sniff, sha256, spool, store with fsync + rename, database rows) and GET /v1/media/<id> (access check,
// stream from disk), each against a bare node:http server doing only the unavoidable part in the same
// run: upload = stream the body to a file, fsync, rename; download = stream a file back.

export interface MediaRun {
  path: string
  bytes: number
  baselineMiBps: number
  subjectMiBps: number
  ratio: number
  rounds: number
}

export interface MediaResult {
  objectBytes: number
  runs: MediaRun[]
}

const MiB = 1024 * 1024
const PNG_HEAD = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex')

export async function benchMedia(options: {objectBytes?: number; rounds?: number; perRound?: number} = {}): Promise<{result: MediaResult; tables: Table[]}> {
  const objectBytes = options.objectBytes ?? 8 * MiB
  const rounds = options.rounds ?? 5
  const perRound = options.perRound ?? 4
  const dir = await mkdtemp(join(tmpdir(), 'msgr-bench-media-'))
  const logger = silentLogger()
  const adapters = await createAdapters({allowEmbedded: true, namespace: 'benchmedia', ackWaitMs: 10_000, routeTtlMs: 90_000, nodeId: 'bench-media', logger})
  await migrate(adapters.sql)
  const node = await startNode(
    parseNodeConfig({
      nodeId: 'bench-media',
      roles: ['gateway'],
      host: '127.0.0.1',
      port: 0,
      dev: true,
      jwtSecret: 'bench-secret-bench-secret-bench-secret!',
      sms: {sink: 'dev'},
      media: {dir: join(dir, 'media'), maxBytes: objectBytes + 1024},
    }),
    {adapters, logger},
  )
  const bare = await startBareServer(join(dir, 'bare'))
  try {
    const {accessToken} = await loginWithDevOtp(node.url, '+15550009999', {name: 'bench', platform: 'bench'})
    const auth = {authorization: `Bearer ${accessToken}`}
    // Distinct bytes for every upload (a counter after the header), so neither side can skip work for a repeat.
    const base = Buffer.concat([PNG_HEAD, randomBytes(objectBytes - PNG_HEAD.length)])
    let uploads = 0
    const object = () => {
      base.writeUInt32BE(uploads++, PNG_HEAD.length)
      return base
    }
    const post = async (url: string, headers: Record<string, string>) => {
      const res = await fetch(url, {method: 'POST', headers: {...headers, 'content-type': 'image/png'}, body: object()})
      if (res.status !== 201) throw new Error(`${url} answered ${res.status}: ${await res.text()}`)
      return ((await res.json()) as {id: string}).id
    }
    const get = async (url: string, headers: Record<string, string>) => {
      const res = await fetch(url, {headers})
      if (res.status !== 200) throw new Error(`${url} answered ${res.status}`)
      const size = (await res.arrayBuffer()).byteLength
      if (size !== objectBytes) throw new Error(`${url} sent ${size} bytes, expected ${objectBytes}`)
    }
    const uploadedId = await post(`${node.url}/v1/media`, auth)
    const bareId = await post(`${bare.url}/upload`, {})

    const runs: MediaRun[] = []
    runs.push(await compare('upload (POST)', objectBytes, rounds, perRound, () => post(`${bare.url}/upload`, {}), () => post(`${node.url}/v1/media`, auth)))
    runs.push(
      await compare('download (GET)', objectBytes, rounds, perRound, () => get(`${bare.url}/file/${bareId}`, {}), () => get(`${node.url}/v1/media/${uploadedId}`, auth)),
    )
    const result: MediaResult = {objectBytes, runs}
    const table: Table = {
      title: `media — ${objectBytes / MiB} MiB objects over HTTP, one at a time, vs a bare node:http server`,
      columns: ['path', 'bare MiB/s', 'msgr MiB/s', 'ratio'],
      rows: runs.map((r) => [r.path, r.baselineMiBps.toFixed(1), r.subjectMiBps.toFixed(1), fmtRatio(r.ratio)]),
      notes: [
        'upload: msgr checks the token, the limit and the type, hashes, spools next to the store, fsyncs and renames into place, writes two rows; bare streams to a file, fsyncs, renames.',
        'download: msgr checks the token and access, then streams the stored file; bare streams the same-sized file.',
        `median of ${rounds} alternating rounds of ${perRound} objects per side; client is fetch in the same process.`,
      ],
    }
    return {result, tables: [table]}
  } finally {
    await bare.close()
    await node.stop()
    await adapters.close()
    await rm(dir, {recursive: true, force: true})
  }
}

async function compare(path: string, bytes: number, rounds: number, perRound: number, baseline: () => Promise<unknown>, subject: () => Promise<unknown>): Promise<MediaRun> {
  const rate = async (fn: () => Promise<unknown>) => {
    const started = performance.now()
    for (let i = 0; i < perRound; i++) await fn()
    return (perRound * bytes) / MiB / ((performance.now() - started) / 1000)
  }
  await rate(baseline)
  await rate(subject)
  const b: number[] = []
  const s: number[] = []
  for (let i = 0; i < rounds; i++) {
    b.push(await rate(baseline))
    s.push(await rate(subject))
  }
  progress(`media/${path}: bare ${b.map((v) => v.toFixed(0)).join(' ')} MiB/s; msgr ${s.map((v) => v.toFixed(0)).join(' ')} MiB/s`)
  const baselineMiBps = round(median(b), 1)
  const subjectMiBps = round(median(s), 1)
  return {path, bytes, baselineMiBps, subjectMiBps, ratio: round(subjectMiBps / baselineMiBps, 3), rounds}
}

/** The floor: body to file (fsync, rename) and file back, nothing else. */
async function startBareServer(dir: string): Promise<{url: string; close(): Promise<void>}> {
  await mkdir(dir, {recursive: true})
  let next = 0
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.method === 'POST') {
        const id = String(next++)
        const temp = join(dir, `${id}.tmp`)
        const file = await open(temp, 'w')
        for await (const chunk of req) await file.write(chunk as Buffer)
        await file.sync()
        await file.close()
        await rename(temp, join(dir, id))
        const body = JSON.stringify({id})
        res.writeHead(201, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)}).end(body)
      } else {
        const path = join(dir, (req.url ?? '').slice('/file/'.length))
        const {size} = await stat(path)
        res.writeHead(200, {'content-type': 'image/png', 'content-length': size})
        createReadStream(path).pipe(res)
      }
    })()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
