import '../cli/tty-render.js'

import {createInterface} from 'node:readline/promises'

import {Command, Flags} from '@oclif/core'

import {PHONE_PATTERN} from '../chat/auth.js'
import {startChat} from '../chat/start.js'
import {defaultConfigDir, lastPhone} from '../chat/store.js'
import {runChatScreen} from '../chat/ui/run.js'

export default class Chat extends Command {
  static override description = `Terminal chat client: log in by phone, read and send messages, groups, reactions, edits, deletes.
Logs in with a one-time code (read from a development server's /v1/dev/otp, otherwise asked for), keeps its tokens, cursors and recent messages in --config-dir (one profile per phone), reconnects on its own and follows a draining gateway's reconnect events. Direct conversations are end-to-end encrypted (--no-e2e turns it off). Type /help inside for commands. See docs/chat.md.`
  static override examples = [
    '<%= config.bin %> chat --url http://127.0.0.1:8080 --phone +15550001111',
    '<%= config.bin %> chat                      # the last profile again',
    'MSGR_CONFIG_DIR=/tmp/ana <%= config.bin %> chat --phone +15550002222 --no-e2e',
  ]
  static override flags = {
    url: Flags.string({description: 'Base URL of a gateway (or the load balancer in front of them)', env: 'MSGR_URL', default: 'http://127.0.0.1:8080'}),
    phone: Flags.string({description: 'Your phone number in E.164 form, e.g. +15550001111 (default: the last profile used)'}),
    'config-dir': Flags.string({description: 'Where tokens, cursors and messages are kept (default ~/.config/msgr)', env: 'MSGR_CONFIG_DIR'}),
    e2e: Flags.boolean({description: 'End-to-end encrypt direct conversations (--no-e2e: in the clear)', default: true, allowNo: true}),
    'device-name': Flags.string({description: 'Name of this device when it logs in', default: 'msgr chat'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Chat)
    if (!process.stdin.isTTY || !process.stdout.isTTY) this.error('msgr chat needs a terminal (stdin and stdout a TTY)', {exit: 2})
    try {
      new URL(flags.url)
    } catch {
      this.error(`--url ${flags.url} is not a URL, e.g. http://127.0.0.1:8080`, {exit: 2})
    }
    const configDir = flags['config-dir'] || defaultConfigDir()
    let phone = flags.phone ?? lastPhone(configDir)
    if (!phone) phone = await ask('Phone number (E.164, e.g. +15550001111): ')
    if (!PHONE_PATTERN.test(phone)) this.error(`${phone} is not an E.164 phone number, e.g. +15550001111`, {exit: 2})

    const session = await startChat({
      url: flags.url,
      phone,
      configDir,
      e2e: flags.e2e,
      deviceName: flags['device-name'],
      promptCode: (p) => ask(`Code sent to ${p}: `),
      onStatus: (text) => this.log(text),
    }).catch((error: Error) => this.error(`cannot start the chat: ${error.message}`, {exit: 1}))
    try {
      await runChatScreen(session)
    } finally {
      await session.close()
    }
    // Sockets and timers of the session are closed; leave even if a library holds a handle.
    this.exit(0)
  }
}

async function ask(question: string): Promise<string> {
  const rl = createInterface({input: process.stdin, output: process.stdout})
  try {
    return (await rl.question(question)).trim()
  } finally {
    rl.close()
  }
}
