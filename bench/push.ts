import {randomUUID} from 'node:crypto'

import {createMemoryPushQueue} from '../src/adapters/memory/push-queue.js'
import {createMemoryRateLimiter} from '../src/adapters/memory/rate-limiter.js'
import {createPgliteSql} from '../src/adapters/pglite/sql.js'
import {newId} from '../src/core/ids.js'
import {silentLogger} from '../src/core/logger.js'
import {type Sql, systemClock} from '../src/core/ports.js'
import {encodeJob, type PushJob} from '../src/core/push/job.js'
import type {PushProvider} from '../src/core/push/provider.js'
import {summarise} from '../src/core/push/summary.js'
import {migrate} from '../src/core/store/migrate.js'
import {recordPushHistory} from '../src/core/store/push-history.js'
import {loadPushDevice, pushableDevices} from '../src/core/store/push-tokens.js'
import {createMetrics} from '../src/server/metrics.js'
import {pushConfigSchema} from '../src/server/push/config.js'
import {createNotifier} from '../src/server/push/notifier.js'
import {fmtInt, fmtRatio, progress, round, runBounded, type RunResult} from './measure.js'
import type {Table} from './table.js'

// The two hot paths of push notifications, on embedded PGlite:
// - planning, paid by the worker on every committed batch with people's messages: the one query that
//   finds the recipients' pushable devices, against listing the conversation's members (the same join
//   without devices and tokens);
// - the notification worker: jobs through the queue, batched per device, device loaded, rate-checked,
//   summarised, sent (to a provider that answers at once) and recorded, against the floor of doing only
//   the device load, send and history insert for each notification by hand.

export interface PushBenchResult {
  plan: {members: number; baseline: RunResult; subject: RunResult; ratio: number}
  notifier: {devices: number; jobsPerDevice: number; baseline: RunResult; subject: RunResult; ratio: number; notifications: number}
}

export async function benchPush(options: {members?: number; devices?: number; jobsPerDevice?: number; planMs?: number} = {}): Promise<{result: PushBenchResult; tables: Table[]}> {
  const members = options.members ?? 250
  const devices = options.devices ?? 200
  const jobsPerDevice = options.jobsPerDevice ?? 5
  const sql = await createPgliteSql({})
  try {
    await migrate(sql)
    const {conversation, users, deviceIds, sender} = await seed(sql, Math.max(members, devices))
    const group = users.slice(0, members)

    const bounds = {maxCount: 1e9, maxMs: options.planMs ?? 2000}
    const baseline = await runBounded('push/plan baseline (members)', bounds, async () => {
      await sql.query('SELECT user_id FROM members WHERE conversation_id = $1', [conversation])
      return 1
    }, {latencyPer: 'query'})
    const pairs = group.map((user) => ({conversation, user}))
    const subject = await runBounded('push/plan pushable devices', bounds, async () => {
      await pushableDevices(sql, pairs)
      return 1
    }, {latencyPer: 'query'})
    const plan = {members, baseline, subject, ratio: round(subject.perSecond / baseline.perSecond, 3)}

    const jobs = deviceIds.slice(0, devices).flatMap(({user, device}) =>
      Array.from({length: jobsPerDevice}, (_, i): PushJob => ({v: 1, user, device, conversation, seq: i + 1, sender, kind: 'text', preview: `message ${i}`, ts: new Date(Date.now() + i).toISOString()})),
    )
    const notifier = await benchNotifier(sql, jobs, devices, jobsPerDevice)

    const result: PushBenchResult = {plan, notifier}
    const tables: Table[] = [
      {
        title: `push — planning query per committed batch (one message to a ${members}-member group, all with devices and tokens)`,
        columns: ['members query/s', 'pushable devices/s', 'ratio', 'p50 ms', 'p99 ms'],
        rows: [[fmtInt(baseline.perSecond), fmtInt(subject.perSecond), fmtRatio(plan.ratio), subject.latency!.p50, subject.latency!.p99]],
        notes: ['baseline: SELECT the conversation’s members; subject: the same pairs joined with devices, prefs and push tokens.'],
      },
      {
        title: `push — notification worker, ${devices} devices × ${jobsPerDevice} jobs (one notification per device)`,
        columns: ['floor notifications/s', 'worker notifications/s', 'worker jobs/s', 'ratio'],
        rows: [[fmtInt(notifier.baseline.perSecond), fmtInt(notifier.subject.perSecond), fmtInt(notifier.subject.perSecond * jobsPerDevice), fmtRatio(notifier.ratio)]],
        notes: [
          'floor: per notification, load the device, send, insert the history row (no queue, no batching, no rate check).',
          'worker: the real notifier on the memory queue (window 50 ms), provider answering at once.',
        ],
      },
    ]
    return {result, tables}
  } finally {
    await sql.close()
  }
}

async function benchNotifier(sql: Sql, jobs: PushJob[], devices: number, jobsPerDevice: number): Promise<PushBenchResult['notifier']> {
  let sent = 0
  const provider: PushProvider = {name: 'log', send: async () => (sent++, {ok: true, id: 'x'})}
  const byDevice = new Map<string, PushJob[]>()
  for (const job of jobs) byDevice.set(job.device, [...(byDevice.get(job.device) ?? []), job])

  const floorStart = performance.now()
  for (const [device, list] of byDevice) {
    const d = (await loadPushDevice(sql, device))!
    const n = summarise(list, new Map(), d.prefs, false)
    await provider.send(d.target!, n, {})
    await recordPushHistory(sql, {id: randomUUID(), device, user: d.user, status: 'sent', provider: 'log', title: n.title, body: n.body, count: n.count, conversations: n.conversations, attempt: 1, detail: null, providerId: 'x'}, new Date())
  }
  const floorMs = performance.now() - floorStart
  const baseline = asRun(byDevice.size, floorMs)

  sent = 0
  const queue = createMemoryPushQueue({ackWaitMs: 60_000})
  const config = pushConfigSchema.parse({windowMs: 50, ratePerMinute: 1e6, burst: 1e6})
  const notifier = createNotifier(config, {
    sql,
    queue,
    providers: new Map([['log', provider]]),
    rateLimiter: createMemoryRateLimiter(),
    metrics: createMetrics({node: 'bench'}),
    logger: silentLogger(),
    clock: systemClock,
  })
  await notifier.start()
  const started = performance.now()
  for (const job of jobs) await queue.publish(encodeJob(job))
  while (sent < devices) {
    await new Promise((r) => setTimeout(r, 5))
    if (performance.now() - started > 120_000) throw new Error(`notifier bench stalled at ${sent}/${devices}`)
  }
  const ms = performance.now() - started
  progress(`  … push/notifier: ${jobs.length} jobs → ${sent} notifications in ${round(ms / 1000, 2)} s`)
  await notifier.stop()
  await queue.close()
  const subject = asRun(sent, ms)
  return {devices, jobsPerDevice, baseline, subject, ratio: round(subject.perSecond / baseline.perSecond, 3), notifications: sent}
}

function asRun(count: number, ms: number): RunResult {
  const perSecond = round((count * 1000) / ms, 1)
  return {count, elapsedMs: round(ms, 1), perSecond, tailPerSecond: perSecond, stoppedBy: 'count'}
}

/** One group with `n` members, each with one device registered for the log provider. */
async function seed(sql: Sql, n: number) {
  const conversation = newId()
  const sender = newId()
  const users = Array.from({length: n}, () => newId())
  const deviceIds = users.map((user) => ({user, device: newId()}))
  await sql.query(`INSERT INTO users (id, phone) SELECT u, '+1555' || lpad(i::text, 7, '0') FROM unnest($1::uuid[]) WITH ORDINALITY AS t(u, i)`, [[sender, ...users]])
  await sql.query(`INSERT INTO devices (id, user_id, name, platform) SELECT d, u, 'bench', 'test' FROM unnest($1::uuid[], $2::uuid[]) AS t(d, u)`, [deviceIds.map((d) => d.device), users])
  await sql.query(`INSERT INTO push_tokens (device_id, user_id, provider, token) SELECT d, u, 'log', d::text FROM unnest($1::uuid[], $2::uuid[]) AS t(d, u)`, [deviceIds.map((d) => d.device), users])
  await sql.query(`INSERT INTO conversations (id, kind, created_by) VALUES ($1, 'group', $2)`, [conversation, sender])
  await sql.query(`INSERT INTO members (conversation_id, user_id) SELECT $1, u FROM unnest($2::uuid[]) AS u`, [conversation, [sender, ...users]])
  return {conversation, users, deviceIds, sender}
}
