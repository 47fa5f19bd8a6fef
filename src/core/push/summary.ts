import type {PushJob} from './job.js'
import type {NotifyPrefs} from './prefs.js'

// Folds a burst of jobs for one device into one notification: "3 new messages from Alice, Bob".

export interface Notification {
  title: string
  body: string
  /** Messages this notification covers. */
  count: number
  /** Conversations involved, in first-seen order. */
  conversations: string[]
  /** The newest seq per conversation, so the app can open the right place. */
  latest: Record<string, number>
  /** Inside quiet hours: delivered without sound. */
  silent: boolean
}

const MAX_NAMES = 3

/** `names` maps sender ids to what to show; unknown senders show as "Someone". */
export function summarise(jobs: readonly PushJob[], names: ReadonlyMap<string, string>, prefs: NotifyPrefs, silent: boolean): Notification {
  const unique = dedupe(jobs)
  const conversations: string[] = []
  const latest: Record<string, number> = {}
  const senders: string[] = []
  for (const job of unique) {
    if (!(job.conversation in latest)) conversations.push(job.conversation)
    latest[job.conversation] = Math.max(latest[job.conversation] ?? 0, job.seq)
    const name = names.get(job.sender) ?? 'Someone'
    if (!senders.includes(name)) senders.push(name)
  }
  const count = unique.length
  if (count === 1) {
    const only = unique[0]!
    return {title: senders[0]!, body: prefs.previews && only.preview ? only.preview : 'New message', count, conversations, latest, silent}
  }
  return {title: `${count} new messages`, body: `${count} new messages from ${listNames(senders)}`, count, conversations, latest, silent}
}

/** The same message can reach the queue twice (worker and gateway race, or a redelivered ingest batch). */
export function dedupe(jobs: readonly PushJob[]): PushJob[] {
  const seen = new Set<string>()
  const out: PushJob[] = []
  for (const job of [...jobs].sort((a, b) => a.ts.localeCompare(b.ts) || a.seq - b.seq)) {
    const key = `${job.conversation}|${job.seq}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push(job)
  }
  return out
}

export function listNames(names: readonly string[]): string {
  if (names.length <= MAX_NAMES) return names.join(', ')
  const more = names.length - MAX_NAMES
  return `${names.slice(0, MAX_NAMES).join(', ')} and ${more} ${more === 1 ? 'other' : 'others'}`
}
