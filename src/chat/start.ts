import {login} from './auth.js'
import {PlainCodec} from './codec.js'
import {E2eCodec} from './e2e-codec.js'
import {ChatSession, FatalAuthError, type SessionOptions} from './session.js'
import {openProfile, type StoredAuth} from './store.js'

// Everything `msgr chat` does before the screen opens: the profile in the config dir, a login when its
// tokens are missing (or for another server), and a session with the right codec.

export interface ChatStartOptions {
  url: string
  phone: string
  configDir: string
  e2e: boolean
  deviceName?: string
  promptCode: (phone: string) => Promise<string>
  onStatus?: (text: string) => void
  backoff?: SessionOptions['backoff']
}

export async function startChat(options: ChatStartOptions): Promise<ChatSession> {
  const store = openProfile(options.configDir, options.phone)
  const device = {name: options.deviceName ?? 'msgr chat', platform: 'cli'}
  let auth: StoredAuth | undefined = store.readAuth()
  const fresh = async () => {
    options.onStatus?.(`logging in ${options.phone} at ${options.url}`)
    const next = await login({url: options.url, phone: options.phone, device, promptCode: options.promptCode, onStatus: options.onStatus})
    store.writeAuth(next)
    // A new device: the state and keys of the old one (or of another server) must not carry over.
    store.reset()
    return next
  }
  if (!auth || sameServer(auth.url) !== sameServer(options.url)) auth = await fresh()
  const open = async (current: StoredAuth) => {
    const session = new ChatSession({
      auth: {...current, url: options.url},
      store,
      e2e: options.e2e,
      backoff: options.backoff,
      autoSelect: true,
      onAuth: (next) => store.writeAuth(next),
      codec: (ctx) => (options.e2e ? new E2eCodec(ctx, store.e2eDir) : new PlainCodec(ctx.request)),
    })
    await session.start()
    return session
  }
  try {
    return await open(auth)
  } catch (error) {
    // The saved session was revoked or expired: log in again (as a new device).
    if (!(error instanceof FatalAuthError)) throw error
    return open(await fresh())
  }
}

function sameServer(url: string): string {
  const u = new URL(url)
  return u.host
}

