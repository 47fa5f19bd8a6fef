import {decodeJob} from '../core/push/job.js'
import type {DeadLetter} from '../core/push/queue.js'

// What `msgr push dead-letters` prints and returns.

export interface DeadLetterView {
  seq: number
  at: string
  attempts: number
  reason: string
  /** The job, when it decodes (a malformed one shows as null). */
  device: string | null
  user: string | null
  conversation: string | null
  messageSeq: number | null
}

export function deadLetterView(letter: DeadLetter): DeadLetterView {
  const job = decodeJob(letter.data)
  return {
    seq: letter.seq,
    at: new Date(letter.at).toISOString(),
    attempts: letter.attempts,
    reason: letter.reason,
    device: job?.device ?? null,
    user: job?.user ?? null,
    conversation: job?.conversation ?? null,
    messageSeq: job?.seq ?? null,
  }
}

export function deadLettersTable(views: readonly DeadLetterView[]): string {
  if (views.length === 0) return 'no dead letters'
  const rows = [['SEQ', 'AT', 'ATTEMPTS', 'DEVICE', 'MESSAGE', 'REASON'], ...views.map((v) => [String(v.seq), v.at, String(v.attempts), v.device ?? '(malformed)', v.conversation ? `${v.conversation}#${v.messageSeq}` : '-', v.reason])]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n')
}
