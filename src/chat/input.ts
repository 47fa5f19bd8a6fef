// The compose line: plain text is a message, a leading "/" a command. Parsing only; the session runs them.

export type ChatCommand =
  | {cmd: 'send'; text: string; replyTo?: number}
  | {cmd: 'dm'; user: string}
  | {cmd: 'group'; name: string; members: string[]}
  | {cmd: 'add'; members: string[]}
  | {cmd: 'invite'; approval: boolean}
  | {cmd: 'join'; code: string}
  | {cmd: 'leave'}
  | {cmd: 'reply'; seq: number; text?: string}
  | {cmd: 'react'; seq: number; emoji: string; remove: boolean}
  | {cmd: 'edit'; seq: number; text: string}
  | {cmd: 'delete'; seq: number; scope: 'everyone' | 'me'}
  | {cmd: 'presence'; status: 'online' | 'away' | 'busy' | 'offline'; custom?: string}
  | {cmd: 'info'}
  | {cmd: 'safety'}
  | {cmd: 'whoami'}
  | {cmd: 'help'}
  | {cmd: 'quit'}

export class InputError extends Error {
  override name = 'InputError'
}

export const HELP_LINES = [
  'Enter sends · ↑/↓ Tab switch conversation · PgUp/PgDn scroll · Esc cancel · Ctrl-C quit · // sends a /',
  '/dm <user-id> (no phone lookup: /whoami shows ids)  /group <name> [ids…]  /add <ids…>  /leave',
  '/invite [approval]  /join <code|link>  /info  /presence <online|away|busy|offline> [text]',
  '/reply <#> [text]  /react <#> <emoji>  /unreact <#> <emoji>  /edit <#> <text>  /delete <#> [me]',
  '/safety (E2E safety number)  /whoami  /help  /quit',
]

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const PHONE = /^\+[1-9]\d{6,14}$/

/** Parses one compose line; `replyTo` is the reply target chosen earlier with /reply <#>. */
export function parseInput(line: string, replyTo?: number): ChatCommand | undefined {
  const trimmed = line.trim()
  if (trimmed === '') return undefined
  if (!trimmed.startsWith('/') || trimmed.startsWith('//')) {
    const text = trimmed.startsWith('//') ? trimmed.slice(1) : trimmed
    return replyTo === undefined ? {cmd: 'send', text} : {cmd: 'send', text, replyTo}
  }
  const [head, ...rest] = trimmed.slice(1).split(/\s+/)
  const name = head!.toLowerCase()
  const restText = trimmed.slice(1 + head!.length).trim()
  switch (name) {
    case 'dm':
    case 'msg':
      return {cmd: 'dm', user: userId(rest[0], '/dm <user-id>')}
    case 'group': {
      if (rest.length === 0) throw new InputError('usage: /group <name> [user-ids…]')
      const ids = rest.filter((w) => UUID.test(w))
      const nameWords = rest.filter((w) => !UUID.test(w))
      if (nameWords.length === 0) throw new InputError('usage: /group <name> [user-ids…] (the name is not an id)')
      return {cmd: 'group', name: nameWords.join(' '), members: ids.map((u) => u.toLowerCase())}
    }
    case 'add':
      if (rest.length === 0) throw new InputError('usage: /add <user-id> [more ids…]')
      return {cmd: 'add', members: rest.map((u) => userId(u, '/add <user-id>'))}
    case 'invite':
      return {cmd: 'invite', approval: rest[0] === 'approval'}
    case 'join': {
      // A bare code, or a link that ends with one (…/join/<code>, …?code=<code>).
      const code = (rest[0] ?? '').split(/[/?#=&]/).filter(Boolean).pop() ?? ''
      if (!/^[A-Za-z0-9_-]{8,64}$/.test(code)) throw new InputError('usage: /join <code> (8-64 letters, digits, _ or -)')
      return {cmd: 'join', code}
    }
    case 'leave':
      return {cmd: 'leave'}
    case 'reply': {
      const seq = seqOf(rest[0], '/reply <#> [text]')
      const text = restText.slice(rest[0]!.length).trim()
      return text ? {cmd: 'reply', seq, text} : {cmd: 'reply', seq}
    }
    case 'react':
    case 'unreact': {
      const seq = seqOf(rest[0], `/${name} <#> <emoji>`)
      const emoji = rest[1]
      if (!emoji) throw new InputError(`usage: /${name} <#> <emoji>`)
      return {cmd: 'react', seq, emoji, remove: name === 'unreact'}
    }
    case 'edit': {
      const seq = seqOf(rest[0], '/edit <#> <text>')
      const text = restText.slice(rest[0]!.length).trim()
      if (!text) throw new InputError('usage: /edit <#> <new text>')
      return {cmd: 'edit', seq, text}
    }
    case 'delete':
    case 'del':
      return {cmd: 'delete', seq: seqOf(rest[0], '/delete <#> [me]'), scope: rest[1] === 'me' ? 'me' : 'everyone'}
    case 'presence':
    case 'status': {
      const status = rest[0]
      if (status !== 'online' && status !== 'away' && status !== 'busy' && status !== 'offline') {
        throw new InputError('usage: /presence <online|away|busy|offline> [custom text]')
      }
      const custom = restText.slice(status.length).trim()
      return custom ? {cmd: 'presence', status, custom} : {cmd: 'presence', status}
    }
    case 'info':
    case 'members':
      return {cmd: 'info'}
    case 'safety':
      return {cmd: 'safety'}
    case 'whoami':
    case 'me':
      return {cmd: 'whoami'}
    case 'help':
    case '?':
      return {cmd: 'help'}
    case 'quit':
    case 'exit':
    case 'q':
      return {cmd: 'quit'}
    default:
      throw new InputError(`unknown command /${name}: /help lists them (start with // to send a line that begins with /)`)
  }
}

function userId(word: string | undefined, usage: string): string {
  if (!word) throw new InputError(`usage: ${usage}`)
  if (PHONE.test(word)) {
    throw new InputError(`${word}: the server has no lookup by phone number; ask them for their user id (msgr chat shows it at the top)`)
  }
  if (!UUID.test(word)) throw new InputError(`${word} is not a user id (a UUID such as 0190f1a0-3c4e-7a61-9d2e-5b7c8e9f0a11)`)
  return word.toLowerCase()
}

function seqOf(word: string | undefined, usage: string): number {
  const n = Number((word ?? '').replace(/^#/, ''))
  if (!word || !Number.isSafeInteger(n) || n < 1) throw new InputError(`usage: ${usage} (# is the message number shown before it)`)
  return n
}
