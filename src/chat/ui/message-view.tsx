import {Box, Text} from 'ink'

import {type ChatState, type ConversationState, deliveryMark, visibleMessages} from '../model.js'
import {clock, MARKS, messageText, pendingText, reactionsText, who} from './format.js'

export interface MessageViewProps {
  state: ChatState
  conv: ConversationState
  height: number
  /** Columns available: long messages wrap, and the view keeps to `height` rows. */
  width: number
  /** Messages scrolled up from the bottom. */
  scroll: number
}

/** A piece of a line with its style. */
interface Segment {
  text: string
  dim?: boolean
  bold?: boolean
  italic?: boolean
  color?: string
}

interface Row {
  key: string
  segments: Segment[]
}

/** The open conversation's messages, oldest at the top, with #numbers, replies, reactions and marks. */
export function MessageView({state, conv, height, width, scroll}: MessageViewProps) {
  const rows = messageRows(state, conv)
  const end = Math.max(0, rows.length - scroll)
  // Walk up from the bottom while the wrapped rows fit.
  let used = 0
  let start = end
  while (start > 0) {
    const need = wrappedHeight(rows[start - 1]!, width)
    if (used + need > height && start < end) break
    used += need
    start--
  }
  return (
    <Box flexDirection="column" height={height} overflow="hidden">
      {rows.length === 0 && <Text dimColor>no messages yet</Text>}
      {rows.slice(start, end).map((row) => (
        <Text key={row.key} wrap="wrap">
          {row.segments.map((s, i) => (
            <Text key={i} dimColor={s.dim} bold={s.bold} italic={s.italic} color={s.color}>
              {s.text}
            </Text>
          ))}
        </Text>
      ))}
    </Box>
  )
}

/** One row per visible message, then the outbox of this conversation. */
export function messageRows(state: ChatState, conv: ConversationState): Row[] {
  const me = state.me.userId
  const bySeq = new Map(conv.messages.map((m) => [m.seq, m]))
  const rows: Row[] = []
  for (const m of visibleMessages(conv)) {
    const head: Segment = {text: `#${m.seq} ${clock(m.ts)} `, dim: true}
    if (m.kind === 'system') {
      rows.push({key: `m${m.seq}`, segments: [{text: `${head.text}· ${messageText(m, me)}`, dim: true}]})
      continue
    }
    const mine = m.sender === me
    const quoted = m.replyTo ? bySeq.get(m.replyTo) : undefined
    const segments: Segment[] = [head, {text: who(m.sender, me), bold: true, color: mine ? 'cyan' : 'yellow'}, {text: ': '}]
    if (m.replyTo) segments.push({text: `↪#${m.replyTo}${quoted ? ` "${truncate(messageText(quoted, me), 24)}"` : ''} `, dim: true})
    segments.push({text: messageText(m, me), italic: m.deleted || m.undecryptable !== undefined, color: m.undecryptable ? 'red' : undefined})
    if (m.edited && !m.deleted) segments.push({text: ' (edited)', dim: true})
    const reactions = reactionsText(m)
    if (reactions) segments.push({text: reactions})
    if (m.encrypted && !m.undecryptable) segments.push({text: ' 🔒', dim: true})
    if (mine && !m.deleted) segments.push({text: ` ${MARKS[deliveryMark(conv, m.seq, me)]}`, color: 'green'})
    rows.push({key: `m${m.seq}`, segments})
  }
  for (const p of state.outbox) {
    if (p.conversation !== conv.id) continue
    rows.push({
      key: `p${p.clientMsgId}`,
      segments: [
        {text: '#…  ', dim: true},
        {text: 'you', bold: true, color: p.failed ? 'red' : 'cyan'},
        {text: `: ${p.replyTo ? `↪#${p.replyTo} ` : ''}${pendingText(p)} `},
        {text: p.failed ? `${MARKS.failed}: ${p.failed}` : MARKS.pending, dim: !p.failed, color: p.failed ? 'red' : undefined},
      ],
    })
  }
  return rows
}

/** Rows a wrapped line takes (wide characters counted as two columns, roughly). */
function wrappedHeight(row: Row, width: number): number {
  let columns = 0
  for (const s of row.segments) for (const ch of s.text) columns += (ch.codePointAt(0) ?? 0) > 0x2e80 ? 2 : 1
  return Math.max(1, Math.ceil(columns / Math.max(10, width)))
}

function truncate(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text
}
