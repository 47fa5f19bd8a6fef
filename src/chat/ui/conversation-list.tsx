import {Box, Text} from 'ink'

import {type ChatState, lastVisible, peerOf, unreadCount} from '../model.js'
import {conversationTitle, messageText, presenceDot, who} from './format.js'
import type {ConversationState} from '../model.js'

export interface ConversationListProps {
  state: ChatState
  conversations: ConversationState[]
  width: number
  /** Lines available; each conversation takes two. */
  height: number
}

/** Conversations newest first: name, unread count, and the last message. The open one is marked ▸. */
export function ConversationList({state, conversations, width, height}: ConversationListProps) {
  const me = state.me.userId
  const fit = Math.max(1, Math.floor(height / 2))
  const at = Math.max(0, conversations.findIndex((c) => c.id === state.selected))
  const start = Math.min(Math.max(0, at - fit + 1), Math.max(0, conversations.length - fit))
  const shown = conversations.slice(start, start + fit)
  return (
    <Box flexDirection="column" width={width}>
      {conversations.length === 0 && <Text dimColor>no conversations yet: /dm, /group or /join</Text>}
      {shown.map((conv) => {
        const selected = conv.id === state.selected
        const unread = unreadCount(conv, me)
        const peer = peerOf(conv, me)
        const last = lastVisible(conv)
        const status = conv.status === 'member' ? '' : ` (${conv.status})`
        const preview = last ? `${who(last.sender, me)}: ${messageText(last, me)}` : ''
        return (
          <Box key={conv.id} flexDirection="column">
            <Text wrap="truncate-end" bold={selected || unread > 0} inverse={selected}>
              {selected ? '▸ ' : '  '}
              {peer && peer !== me ? `${presenceDot(state.presence[peer])} ` : conv.kind === 'group' ? '# ' : '  '}
              {conversationTitle(conv, me)}
              {status}
              {unread > 0 ? `  (${unread})` : ''}
            </Text>
            <Text wrap="truncate-end" dimColor>
              {'    '}
              {preview}
            </Text>
          </Box>
        )
      })}
    </Box>
  )
}
