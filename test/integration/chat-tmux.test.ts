import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {randomPhone, sleep} from '../helpers/cluster.js'
import {type MsgrProcess, startMsgr} from '../helpers/processes.js'

// End to end through a real terminal: a real `msgr serve all --dev`, and two `msgr chat` processes in
// detached tmux sessions (their own tmux server socket), driven with send-keys and read with
// capture-pane. Needs `npm run build` first.

const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const hasTmux = spawnSync('tmux', ['-V']).status === 0
if (!hasTmux) console.warn('\n!!!!!!!! tmux is not installed: the msgr chat tmux test is SKIPPED (apt-get install tmux) !!!!!!!!\n')

const SOCKET = `msgr-chat-test-${process.pid}`
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', SOCKET, ...args], {encoding: 'utf8'})
const pane = (name: string) => {
  try {
    return tmux('capture-pane', '-p', '-t', `=${name}:`)
  } catch {
    return ''
  }
}
const type = (name: string, text: string) => {
  // "=name:" is exactly that session (a bare name may match another by prefix or fall back to the current one).
  tmux('send-keys', '-t', `=${name}:`, '-l', text)
  tmux('send-keys', '-t', `=${name}:`, 'Enter')
}

async function paneShows(name: string, needle: string | RegExp, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    last = pane(name)
    if (typeof needle === 'string' ? last.includes(needle) : needle.test(last)) return last
    await sleep(200)
  }
  throw new Error(`pane ${name} never showed ${needle}; it shows:\n${last}`)
}

describe.runIf(hasTmux)('msgr chat in a terminal (tmux)', () => {
  let server: MsgrProcess
  let dir: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'msgr-chat-tmux-'))
    server = await startMsgr(['serve', 'all', '--dev', '--port', '0', '--host', '127.0.0.1', '--data-dir', join(dir, 'data'), '--canary-interval', '0'], {
      MSGR_LOG_FORMAT: 'json',
    }, 150_000)
  }, 180_000)
  afterAll(async () => {
    try {
      const socket = tmux('display-message', '-p', '#{socket_path}').trim()
      tmux('kill-server')
      rmSync(socket, {force: true})
    } catch {
      // already gone
    }
    await server?.kill()
    rmSync(dir, {recursive: true, force: true})
  })

  const start = (name: string, phone: string) => {
    // The pane stays after an exit so that a failure shows its error.
    const command = `node ${BIN} chat --url ${server.url} --phone '${phone}' --config-dir ${join(dir, name)}; echo "chat exited $?"; sleep 60`
    tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '40', command)
  }
  const userIdOf = (name: string, phone: string) =>
    (JSON.parse(readFileSync(join(dir, name, 'profiles', phone.slice(1), 'auth.json'), 'utf8')) as {userId: string}).userId

  it('two users log in by OTP, and what one types appears in the other’s terminal', async () => {
    const [phoneA, phoneB] = [randomPhone(), randomPhone()]
    start('ana', phoneA)
    start('ben', phoneB)
    await paneShows('ana', /online/)
    await paneShows('ben', /online/)
    const ben = userIdOf('ben', phoneB)
    expect(pane('ben')).toContain(`you ${ben}`)

    type('ana', `/dm ${ben}`)
    await paneShows('ana', 'direct conversation with')
    type('ana', 'hello from the terminal')
    // Ana's own line gets its seq once the server acknowledged it.
    await paneShows('ana', /#1 \d\d:\d\d you: hello from the terminal/)
    const benScreen = await paneShows('ben', 'hello from the terminal')
    expect(benScreen).toMatch(/#1 \d\d:\d\d [0-9a-f]{8}: hello from the terminal/)

    type('ben', '/reply 1 hi Ana')
    await paneShows('ana', /#2 \d\d:\d\d [0-9a-f]{8}: ↪#1 "hello from the terminal" hi Ana/)
    // Ana has the conversation open: Ben's line shows it read.
    await paneShows('ben', /#2 \d\d:\d\d you: ↪#1 .* hi Ana .*✓✓ read/)

    // Direct conversations are end-to-end encrypted by default; both sides show the same safety number.
    expect(pane('ana')).toContain('🔒 end-to-end encrypted')
    const safety = /safety number with [0-9a-f]{8}: ((?:\d{5} ){11}\d{5})/
    type('ana', '/safety')
    type('ben', '/safety')
    const numberA = safety.exec(await paneShows('ana', safety))![1]
    const numberB = safety.exec(await paneShows('ben', safety))![1]
    expect(numberA).toBe(numberB)

    type('ana', '/quit')
    type('ben', '/quit')
    await paneShows('ana', 'chat exited 0')
    await paneShows('ben', 'chat exited 0')
  }, 300_000)
})
