import {stripVTControlCharacters} from 'node:util'

import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'

import type {ChatCommand} from '../../../src/chat/input.js'
import {type ChatAction, type ChatState, type IncomingMessage, initialState, reduce} from '../../../src/chat/model.js'
import type {ChatSessionApi} from '../../../src/chat/session.js'
import {ChatApp} from '../../../src/chat/ui/app.js'
import type {InboxEntry} from '../../../src/protocol/frames.js'

// The chat screens rendered with ink-testing-library against a fake of the session interface (not of the
// server): what is on screen for a given state, and what the keys make the session do.

const plain = (frame: string | undefined) => stripVTControlCharacters(frame ?? '')
const tick = () => new Promise((r) => setTimeout(r, 30))
/** Retries an assertion until it holds (renders and replies are asynchronous; the machine may be busy). */
async function eventually(check: () => void, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    try {
      check()
      return
    } catch (error) {
      if (Date.now() > end) throw error
      await tick()
    }
  }
}

const ME = 'aaaaaaaa-0000-4000-8000-00000000000a'
const BEN = 'bbbbbbbb-0000-4000-8000-00000000000b'
const DIRECT = 'd0000000-0000-4000-8000-000000000001'
const GROUP = 'e0000000-0000-4000-8000-000000000002'
const NOW = Date.parse('2030-01-01T12:00:30.000Z')

class FakeSession implements ChatSessionApi {
  readonly executed: ChatCommand[] = []
  readonly selected: Array<string | undefined> = []
  readonly typed: boolean[] = []
  private readonly listeners = new Set<() => void>()
  constructor(
    private state: ChatState,
    private readonly answer: (c: ChatCommand) => Promise<string | undefined> = async () => undefined,
  ) {}
  getState = () => this.state
  subscribe = (l: () => void) => {
    this.listeners.add(l)
    return () => this.listeners.delete(l)
  }
  dispatch(action: ChatAction) {
    this.state = reduce(this.state, action)
    for (const l of this.listeners) l()
  }
  select(conversation: string | undefined) {
    this.selected.push(conversation)
    this.dispatch({type: 'select', conversation})
  }
  execute(command: ChatCommand) {
    this.executed.push(command)
    return this.answer(command)
  }
  typing(active: boolean) {
    this.typed.push(active)
  }
  async close() {}
}

const msg = (seq: number, over: Partial<IncomingMessage> = {}): IncomingMessage => ({
  seq,
  messageId: `m${seq}`,
  sender: BEN,
  senderDevice: 'd',
  ts: `2030-01-01T12:00:${String(seq).padStart(2, '0')}.000Z`,
  kind: 'text',
  body: `text ${seq}`,
  text: `text ${seq}`,
  clientMsgId: `c${seq}`,
  ...over,
})

const inbox = (over: Partial<InboxEntry>): InboxEntry => ({
  conversation: DIRECT,
  kind: 'direct',
  status: 'member',
  muted: false,
  archived: false,
  lastSeq: 0,
  lastTs: null,
  readSeq: 0,
  deliveredSeq: 0,
  unread: 0,
  memberCount: 2,
  ...over,
})

function scene(): ChatState {
  const actions: ChatAction[] = [
    {
      type: 'inbox',
      entries: [
        inbox({members: [ME, BEN]}),
        inbox({conversation: GROUP, kind: 'group', name: 'Climbing', memberCount: 3, lastSeq: 4, lastTs: '2029-12-31T10:00:00.000Z', unread: 4}),
      ],
    },
    {
      type: 'messages',
      conversation: DIRECT,
      messages: [
        msg(1),
        msg(2, {sender: ME, text: 'lunch?', body: 'lunch?'}),
        msg(3, {text: 'yes, 12:30', replyTo: 2}),
        msg(4, {kind: 'reaction', body: {target: 3, emoji: '👍', op: 'add'}, sender: ME}),
        msg(5, {sender: ME, text: 'typo', body: 'typo'}),
        msg(6, {sender: ME, kind: 'edit', body: {target: 5, body: 'fixed', version: 2}}),
        msg(7, {text: 'oops'}),
        msg(8, {kind: 'delete', body: {target: 7}}),
        msg(9, {kind: 'encrypted', body: {}, encrypted: true, undecryptable: 'no session with this device', text: undefined}),
      ],
    },
    {type: 'receipt', event: {conversation: DIRECT, user: BEN, device: 'd', type: 'read', seq: 2}},
    {type: 'receipt', event: {conversation: DIRECT, user: BEN, device: 'd', type: 'delivered', seq: 5}},
    {type: 'queued', pending: {conversation: DIRECT, clientMsgId: 'k1', text: 'on my way'}},
    {type: 'typing', event: {conversation: DIRECT, user: BEN, state: true, expiresInMs: 6000}, now: NOW},
    {type: 'presence', views: [{user: BEN, status: 'online', lastSeen: null}]},
    {type: 'select', conversation: DIRECT},
    {type: 'connection', status: 'online', node: 'gw-a'},
  ]
  return actions.reduce(reduce, initialState({userId: ME, deviceId: 'dev', phone: '+15550001111'}, true))
}

const app = (session: FakeSession, onQuit = () => {}) => render(<ChatApp session={session} rows={30} columns={110} onQuit={onQuit} now={() => NOW} />)

describe('msgr chat screen', () => {
  it('shows the conversation list with unread counts and last messages, and the open conversation with marks', () => {
    const {lastFrame, unmount} = app(new FakeSession(scene()))
    const frame = plain(lastFrame())
    unmount()
    expect(frame).toContain(`msgr chat  +15550001111 you ${ME}  online (gw-a)  E2E on`)
    // The list: the open one marked, the group with its unread count.
    expect(frame).toMatch(/▸ ● bbbbbbbb/)
    expect(frame).toMatch(/# Climbing\s+\(4\)/)
    // Title with presence and the E2E lock.
    expect(frame).toMatch(/bbbbbbbb\s+online\s+🔒 end-to-end encrypted/)
    const lines = frame.split('\n')
    const line = (needle: string) => lines.find((l) => l.includes(needle)) ?? ''
    expect(line('#2 ')).toMatch(/#2 \d\d:\d\d you: lunch\? ✓✓ read/)
    expect(line('#3 ')).toMatch(/#3 \d\d:\d\d bbbbbbbb: ↪#2 "lunch\?" yes, 12:30 \[👍\]/)
    expect(line('#5 ')).toMatch(/#5 \d\d:\d\d you: fixed \(edited\) ✓✓$/)
    expect(line('#7 ')).toContain('(message deleted)')
    expect(line('#9 ')).toContain('⚠ cannot decrypt: no session with this device')
    expect(line('on my way')).toMatch(/#… {2}you: on my way …/)
    expect(frame).not.toMatch(/#4 |#6 |#8 /)
    expect(frame).toContain('bbbbbbbb is typing…')
  })

  it('wraps long messages and keeps the screen within its rows', () => {
    const long = `${'word '.repeat(80)}THE-END`
    let state = scene()
    for (let i = 10; i < 40; i++) state = reduce(state, {type: 'messages', conversation: DIRECT, messages: [msg(i, {text: i === 39 ? long : `line ${i}`})]})
    const {lastFrame, unmount} = app(new FakeSession(state))
    const frame = plain(lastFrame())
    unmount()
    expect(frame).toContain('THE-END')
    expect(frame).toContain('#39 ')
    expect(frame.split('\n').length).toBeLessThanOrEqual(30)
    // The oldest messages scrolled off the top to make room.
    expect(frame).not.toContain('#10 ')
  })

  it('sends what is typed, replies to a chosen message, and reports errors of bad commands', async () => {
    const session = new FakeSession(scene(), async (c) => (c.cmd === 'invite' ? 'invite code XYZ' : undefined))
    const {stdin, lastFrame, unmount} = app(session)
    await tick()
    stdin.write('hello')
    await tick()
    await eventually(() => expect(plain(lastFrame())).toContain('> hello'))
    await eventually(() => expect(session.typed).toContain(true))
    stdin.write('\r')
    await tick()
    await eventually(() => expect(session.executed.at(-1)).toEqual({cmd: 'send', text: 'hello'}))

    stdin.write('/reply 3')
    await tick()
    stdin.write('\r')
    await tick()
    await eventually(() => expect(plain(lastFrame())).toContain('↪#3 >'))
    stdin.write('ok!')
    await tick()
    stdin.write('\r')
    await tick()
    await eventually(() => expect(session.executed.at(-1)).toEqual({cmd: 'send', text: 'ok!', replyTo: 3}))
    await eventually(() => expect(plain(lastFrame())).not.toContain('↪#3 >'))

    stdin.write('/invite')
    await tick()
    stdin.write('\r')
    await tick()
    await eventually(() => expect(plain(lastFrame())).toContain('invite code XYZ'))

    stdin.write('/dm +15550002222')
    await tick()
    stdin.write('\r')
    await tick()
    await eventually(() => expect(plain(lastFrame())).toContain('no lookup by phone number'))
    // The refused line stays for fixing; Esc clears it.
    await eventually(() => expect(plain(lastFrame())).toContain('> /dm +15550002222'))
    stdin.write('\u001B')
    await tick()
    await tick()
    await eventually(() => expect(plain(lastFrame())).not.toContain('> /dm'))

    // Text and Enter in one chunk (a paste, tmux send-keys) submit without waiting for a re-render.
    stdin.write('one\rtwo\r')
    await tick()
    await eventually(() =>
      expect(session.executed.slice(-2)).toEqual([
        {cmd: 'send', text: 'one'},
        {cmd: 'send', text: 'two'},
      ]),
    )
    unmount()
  })

  it('switches conversations with the arrow keys and quits with /quit', async () => {
    const session = new FakeSession(scene())
    let quit = 0
    const {stdin, lastFrame, unmount} = app(session, () => quit++)
    await tick()
    stdin.write('\u001B[B') // down
    await tick()
    await eventually(() => expect(session.selected.at(-1)).toBe(GROUP))
    await eventually(() => expect(plain(lastFrame())).toMatch(/▸ # Climbing/))
    stdin.write('\u001B[A') // up
    await tick()
    await eventually(() => expect(session.selected.at(-1)).toBe(DIRECT))
    stdin.write('/quit')
    await tick()
    stdin.write('\r')
    await tick()
    await eventually(() => expect(quit).toBe(1))
    unmount()
  })
})
