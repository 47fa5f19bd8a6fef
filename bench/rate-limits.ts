import {Redis} from 'ioredis'

import {createMemoryDistinctLimiter} from '../src/adapters/memory/distinct-limiter.js'
import {createMemoryRateLimiter} from '../src/adapters/memory/rate-limiter.js'
import {createMemoryRegistry} from '../src/adapters/memory/registry.js'
import {createRedisDistinctLimiter} from '../src/adapters/redis/distinct-limiter.js'
import {createRedisRateLimiter} from '../src/adapters/redis/rate-limiter.js'
import {silentLogger} from '../src/core/logger.js'
import {type DistinctLimiter, type RateLimiter, systemClock} from '../src/core/ports.js'
import {rateLimitsSchema} from '../src/core/rate-policy.js'
import {decodeRequest} from '../src/protocol/codec.js'
import type {Connection} from '../src/server/gateway/connection.js'
import {createGatewayLimits} from '../src/server/gateway/limits.js'
import {createMetrics} from '../src/server/metrics.js'
import {type Comparison, compareSync, fmtInt, fmtRatio, round, runBounded, type RunResult} from './measure.js'
import type {Table} from './table.js'

// Two hot paths of the rate limits: the per-frame check every frame pays (in memory, against decoding
// the frame), and the per-send checks through the shared limiters (against a bare round trip to the
// same backend).

export interface LimitsResult {
  frame: Comparison & {overheadNs: number}
  send: Array<{backend: string; baseline: RunResult; subject: RunResult; ratio: number}>
  skipped?: string
}

// Budgets no run can spend, so every path measured is the "allowed" one a normal client takes.
const CONFIG = rateLimitsSchema.parse({frames: {ratePerSec: 1e6, burst: 1e9}, send: {ratePerSec: 1e6, burst: 1e9}})
const PING = Buffer.from(JSON.stringify({id: '1', op: 'ping'}))
const WHO = {userId: '0192f1c4-8a6e-7b3d-9c1f-2e4a6b8d0f13', deviceId: 'd', sessionId: 's'}
const BODY = 'hey, are we still on for lunch tomorrow? the usual place'

export async function benchRateLimits(options: {roundMs?: number; sendMs?: number} = {}): Promise<{result: LimitsResult; tables: Table[]}> {
  const limits = gatewayLimits(createMemoryRateLimiter(), createMemoryDistinctLimiter())
  const conn = {replyError: () => {}, recordBadFrame: () => false, ws: {close: () => {}}} as unknown as Connection
  const cmp = compareSync(
    'limits/frame',
    () => decodeRequest(PING),
    () => (limits.refuseFrame(conn, '1') ? undefined : decodeRequest(PING)),
    {roundMs: options.roundMs},
  )
  const frame = {...cmp, overheadNs: round(1e9 / cmp.subject - 1e9 / cmp.baseline, 0)}

  const sendMs = options.sendMs ?? 2000
  const send: LimitsResult['send'] = []
  const memory = {rate: createMemoryRateLimiter(), distinct: createMemoryDistinctLimiter()}
  send.push(await sendRun('memory', gatewayLimits(memory.rate, memory.distinct), async () => {}, sendMs))
  let skipped: string | undefined
  const url = process.env.MSGR_BENCH_REDIS_URL ?? process.env.MSGR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
  const redis = new Redis(url, {lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null})
  try {
    await redis.connect()
    const namespace = `b${Date.now().toString(36)}`
    const rate = createRedisRateLimiter({url, namespace})
    const distinct = createRedisDistinctLimiter({url, namespace})
    while (!rate.healthy() || !distinct.healthy()) await new Promise((r) => setTimeout(r, 10))
    send.push(await sendRun('redis', gatewayLimits(rate, distinct), () => redis.ping().then(() => {}), sendMs))
    await Promise.all([rate.close(), distinct.close()])
  } catch (error) {
    skipped = `redis at ${url}: ${(error as Error).message}`
    process.stdout.write(`\n!!! SKIPPING the redis leg of limits: ${skipped}\n`)
  } finally {
    redis.disconnect()
  }

  const result: LimitsResult = skipped ? {frame, send, skipped} : {frame, send}
  const tables: Table[] = [
    {
      title: 'limits — per-frame budget check, on top of decoding a ping',
      columns: ['decode ops/s', 'check + decode ops/s', 'ratio', 'overhead/frame'],
      rows: [[fmtInt(frame.baseline), fmtInt(frame.subject), fmtRatio(frame.ratio), `${fmtInt(frame.overheadNs)} ns`]],
      notes: ['ratio = with the check ÷ without (below 1: the price of the frame budget).', `median of ${frame.rounds} alternating rounds per side.`],
    },
    {
      title: 'limits — per-send checks (user budget + duplicate content), one at a time',
      columns: ['backend', 'baseline ops/s', 'checks ops/s', 'ratio', 'checks p50 ms', 'checks p99 ms'],
      rows: send.map((s) => [s.backend, fmtInt(s.baseline.perSecond), fmtInt(s.subject.perSecond), fmtRatio(s.ratio), s.subject.latency!.p50, s.subject.latency!.p99]),
      notes: [
        'baseline: memory = an empty await; redis = PING on its own connection (one round trip).',
        'checks = beforeOp(send) + beforeSend: two scripts, two round trips on Redis.',
      ],
    },
  ]
  return {result, tables}
}

function gatewayLimits(limiter: RateLimiter, distinct: DistinctLimiter) {
  return createGatewayLimits(CONFIG, {
    nodeId: 'bench',
    limiter,
    distinct,
    registry: createMemoryRegistry(),
    metrics: createMetrics({node: 'bench'}),
    logger: silentLogger(),
    clock: systemClock,
  })
}

async function sendRun(backend: string, limits: ReturnType<typeof gatewayLimits>, baselineStep: () => Promise<void>, ms: number) {
  const bounds = {maxCount: 1e9, maxMs: ms}
  const baseline = await runBounded(`limits/${backend} baseline`, bounds, async () => (await baselineStep(), 1))
  let n = 0
  const subject = await runBounded(
    `limits/${backend} checks`,
    bounds,
    async () => {
      // A new conversation every 4 sends: the duplicate-content set stays under its limit.
      const conversation = `c${Math.floor(n++ / 4) % 4}`
      await limits.beforeOp(WHO, 'send')
      await limits.beforeSend(WHO, conversation, 'text', `${BODY} ${Math.floor(n / 16)}`)
      return 1
    },
    {latencyPer: 'send'},
  )
  return {backend, baseline, subject, ratio: round(subject.perSecond / baseline.perSecond, 3)}
}
