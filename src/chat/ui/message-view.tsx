import {Box, Text} from 'ink'

import {type ChatMessage, type ChatState, type ConversationState, deliveryMark, type PendingSend, visibleMessages} from '../model.js'
import {clock, MARKS, messageText, pendingText, reactionsText, who} from './format.js'

export interface MessageViewProps {
  state: ChatState
  conv: ConversationState
  height: number
  /** Messages scrolled up from the bottom. */
  scroll: number
}

type Line = {key: string; message: ChatMessage; pending?: undefined} | {key: string; pending: PendingSend; message?: undefined}

/** The open conversation's messages, oldest at the top, with #numbers, replies, reactions and marks. */
export function MessageView({state, conv, height, scroll}: MessageViewProps) {
  const me = state.me.userId
  const lines: Line[] = visibleMessages(conv).map((m) => ({key: `m${m.seq}`, message: m}))
  for (const p of state.outbox) if (p.conversation === conv.id) lines.push({key: `p${p.clientMsgId}`, pending: p})
  const end = Math.max(0, lines.length - scroll)
  const shown = lines.slice(Math.max(0, end - height), end)
  const bySeq = new Map(conv.messages.map((m) => [m.seq, m]))
  return (
    <Box flexDirection="column" height={height}>
      {lines.length === 0 && <Text dimColor>no messages yet</Text>}
      {shown.map((line) => {
        if (line.pending) {
          const p = line.pending
          return (
            <Text key={line.key} wrap="truncate-end" color={p.failed ? 'red' : undefined}>
              <Text dimColor>{'#…  '}</Text>
              <Text bold>you</Text>
              {`: ${p.replyTo ? `↪#${p.replyTo} ` : ''}${pendingText(p)} `}
              <Text dimColor>{p.failed ? `${MARKS.failed}: ${p.failed}` : MARKS.pending}</Text>
            </Text>
          )
        }
        const m = line.message
        if (m.kind === 'system') {
          return (
            <Text key={line.key} wrap="truncate-end" dimColor>
              {`#${m.seq} ${clock(m.ts)} · ${messageText(m, me)}`}
            </Text>
          )
        }
        const mine = m.sender === me
        const quoted = m.replyTo ? bySeq.get(m.replyTo) : undefined
        const reply = m.replyTo ? `↪#${m.replyTo}${quoted ? ` "${truncate(messageText(quoted, me), 24)}"` : ''} ` : ''
        return (
          <Text key={line.key} wrap="truncate-end">
            <Text dimColor>{`#${m.seq} ${clock(m.ts)} `}</Text>
            <Text bold color={mine ? 'cyan' : 'yellow'}>
              {who(m.sender, me)}
            </Text>
            {': '}
            <Text dimColor>{reply}</Text>
            <Text italic={m.deleted || m.undecryptable !== undefined} color={m.undecryptable ? 'red' : undefined}>
              {messageText(m, me)}
            </Text>
            {m.edited && !m.deleted ? <Text dimColor> (edited)</Text> : ''}
            {reactionsText(m)}
            {m.encrypted && !m.undecryptable ? <Text dimColor> 🔒</Text> : ''}
            {mine && !m.deleted ? <Text color="green">{` ${MARKS[deliveryMark(conv, m.seq, me)]}`}</Text> : ''}
          </Text>
        )
      })}
    </Box>
  )
}

function truncate(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text
}
