import {Box, Text, useInput} from 'ink'
import {useEffect, useRef, useState, useSyncExternalStore} from 'react'

import {InputError, parseInput} from '../input.js'
import {peerOf, sortedConversations, typingUsers} from '../model.js'
import type {ChatSessionApi} from '../session.js'
import {ConversationList} from './conversation-list.js'
import {conversationTitle, presenceText, shortId, typingText} from './format.js'
import {MessageView} from './message-view.js'

export interface ChatAppProps {
  session: ChatSessionApi
  rows: number
  columns: number
  onQuit: () => void
  /** ms clock for typing expiry (tests pin it). */
  now?: () => number
}

const LIST_WIDTH = 30

/** The whole `msgr chat` screen: header, conversation list, open conversation, compose line, notices. */
export function ChatApp({session, rows, columns, onQuit, now = Date.now}: ChatAppProps) {
  const state = useSyncExternalStore(session.subscribe, session.getState)
  // Keys can arrive faster than React re-renders (a paste, tmux send-keys): the handlers read refs.
  const [line, setLineState] = useState('')
  const lineRef = useRef('')
  const setLine = (value: string) => {
    lineRef.current = value
    setLineState(value)
  }
  const [replyTo, setReplyState] = useState<number | undefined>()
  const replyRef = useRef<number | undefined>(undefined)
  const setReplyTo = (value: number | undefined) => {
    replyRef.current = value
    setReplyState(value)
  }
  const [scroll, setScroll] = useState(0)
  const [notice, setNotice] = useState<{text: string; error: boolean} | undefined>()
  useEffect(() => {
    if (state.notice) setNotice(state.notice)
  }, [state.notice])

  const conversations = sortedConversations(state)
  const conv = state.selected ? state.conversations[state.selected] : undefined
  const me = state.me.userId

  const move = (delta: number) => {
    if (conversations.length === 0) return
    const at = conversations.findIndex((c) => c.id === state.selected)
    const next = conversations[(at + delta + conversations.length) % conversations.length]!
    setScroll(0)
    setReplyTo(undefined)
    session.select(next.id)
  }

  const submit = () => {
    const text = lineRef.current
    let command
    try {
      command = parseInput(text, replyRef.current)
    } catch (error) {
      setNotice({text: (error as InputError).message, error: true})
      return
    }
    setLine('')
    if (!command) return
    if (command.cmd === 'quit') return onQuit()
    if (command.cmd === 'send' || (command.cmd === 'reply' && command.text !== undefined)) setReplyTo(undefined)
    if (command.cmd === 'reply' && command.text === undefined) setReplyTo(command.seq)
    setScroll(0)
    session.execute(command).then(
      (result) => setNotice(result ? {text: result, error: false} : undefined),
      (error: Error) => {
        if (command.cmd === 'reply') setReplyTo(undefined)
        setNotice({text: error.message, error: true})
      },
    )
  }

  useInput((input, key) => {
    if (key.ctrl && input === 'c') return onQuit()
    if (key.return) return submit()
    if (key.upArrow || (key.tab && key.shift)) return move(-1)
    if (key.downArrow || key.tab) return move(1)
    if (key.pageUp) return setScroll((s) => s + Math.max(1, rows - 8))
    if (key.pageDown) return setScroll((s) => Math.max(0, s - Math.max(1, rows - 8)))
    if (key.escape) {
      if (replyRef.current !== undefined) setReplyTo(undefined)
      else setLine('')
      session.typing(false)
      return
    }
    if (key.backspace || key.delete) {
      setLine([...lineRef.current].slice(0, -1).join(''))
      return
    }
    if (key.ctrl || key.meta || !input) return
    // A chunk may hold several lines (a paste, or text and Enter together): each line break submits.
    const parts = input.split(/\r\n|\r|\n/)
    parts.forEach((part, i) => {
      if (i > 0) submit()
      if (part) setLine(lineRef.current + part)
    })
    if (lineRef.current && !lineRef.current.startsWith('/')) session.typing(true)
  })

  const noticeLines = notice ? notice.text.split('\n') : []
  const body = Math.max(3, rows - 1 - 1 - 1 - 1 - 1 - noticeLines.length - 1)
  const peer = conv ? peerOf(conv, me) : undefined
  const typing = conv ? typingText(typingUsers(conv, now()), me) : ''
  const encrypted = state.e2e && conv?.kind === 'direct'
  const c = state.connection
  const connection = c.status === 'online' ? `online${c.node ? ` (${c.node})` : ''}` : `${c.status}${c.error ? `: ${c.error}` : ''}`

  return (
    <Box flexDirection="column" width={columns}>
      <Text wrap="truncate-end">
        <Text bold>msgr chat</Text>
        {`  ${state.me.phone ?? ''} you ${me}  `}
        <Text color={c.status === 'online' ? 'green' : 'yellow'}>{connection}</Text>
        {state.e2e ? '  E2E on' : '  E2E off'}
      </Text>
      <Box flexDirection="row" marginTop={1}>
        <ConversationList state={state} conversations={conversations} width={LIST_WIDTH} height={body + 1} />
        <Box flexDirection="column" marginLeft={1} flexGrow={1}>
          <Text wrap="truncate-end" bold>
            {conv ? conversationTitle(conv, me) : 'no conversation open'}
            {conv?.kind === 'group' ? <Text dimColor>{`  ${plural(conv.memberCount || conv.members.length, 'member')}`}</Text> : ''}
            {peer && peer !== me ? <Text dimColor>{`  ${presenceText(state.presence[peer])}`}</Text> : ''}
            {encrypted ? <Text color="green">{'  🔒 end-to-end encrypted'}</Text> : ''}
          </Text>
          {conv ? <MessageView state={state} conv={conv} height={body} width={columns - LIST_WIDTH - 1} scroll={scroll} /> : <Box height={body} />}
        </Box>
      </Box>
      <Text dimColor wrap="truncate-end">
        {typing || ' '}
      </Text>
      <Text wrap="truncate-end">
        {replyTo !== undefined ? <Text color="cyan">{`↪#${replyTo} `}</Text> : ''}
        <Text bold>{'> '}</Text>
        {line}
        <Text inverse> </Text>
      </Text>
      {noticeLines.length > 0 ? (
        noticeLines.map((text, i) => (
          <Text key={i} wrap="truncate-end" color={notice!.error ? 'red' : undefined} dimColor={!notice!.error}>
            {text}
          </Text>
        ))
      ) : (
        <Text dimColor wrap="truncate-end">
          {conv ? `#${shortId(conv.id)}  ` : ''}/help for commands · ↑/↓ switch · Ctrl-C quit
        </Text>
      )}
    </Box>
  )
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}
