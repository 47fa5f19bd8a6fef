import {mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'

import type {ChatState} from './model.js'

// The chat client's config dir: one profile per phone number, each with its tokens (auth.json, 0600),
// its state (state.json: inbox token, per-conversation cursors and recent messages, the outbox) and a
// directory for the E2E library's keys. Files are replaced atomically (write, then rename).

export interface StoredAuth {
  url: string
  phone: string
  userId: string
  deviceId: string
  accessToken: string
  refreshToken: string
  /** ms epoch when the access token expires (from expiresIn at issue). */
  accessExpiresAt: number
}

export type StoredState = Pick<ChatState, 'conversations' | 'outbox' | 'inboxToken' | 'selected'>

export interface ProfileStore {
  readonly dir: string
  readonly e2eDir: string
  readAuth(): StoredAuth | undefined
  writeAuth(auth: StoredAuth): void
  readState(): StoredState | undefined
  writeState(state: ChatState): void
  /** Forgets the state and the E2E keys (a new login is a new device). */
  reset(): void
}

/** The default config dir: $MSGR_CONFIG_DIR, else $XDG_CONFIG_HOME/msgr, else ~/.config/msgr. */
export function defaultConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MSGR_CONFIG_DIR || join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'msgr')
}

/** The phone of the profile used last in `configDir` (so `msgr chat` without --phone resumes it). */
export function lastPhone(configDir: string): string | undefined {
  try {
    const value = JSON.parse(readFileSync(join(configDir, 'chat.json'), 'utf8')) as {lastPhone?: unknown}
    return typeof value.lastPhone === 'string' ? value.lastPhone : undefined
  } catch {
    return undefined
  }
}

export function openProfile(configDir: string, phone: string): ProfileStore {
  const dir = join(configDir, 'profiles', phone.replace(/[^0-9A-Za-z_-]/g, ''))
  const e2eDir = join(dir, 'e2e')
  mkdirSync(dir, {recursive: true, mode: 0o700})
  writeAtomic(join(configDir, 'chat.json'), JSON.stringify({lastPhone: phone}))
  return {
    dir,
    e2eDir,
    readAuth: () => readJson<StoredAuth>(join(dir, 'auth.json')),
    writeAuth: (auth) => writeAtomic(join(dir, 'auth.json'), JSON.stringify(auth, null, 2), 0o600),
    readState: () => readJson<StoredState>(join(dir, 'state.json')),
    writeState: (state) => writeAtomic(join(dir, 'state.json'), JSON.stringify(persistable(state))),
    reset: () => {
      rmSync(join(dir, 'state.json'), {force: true})
      rmSync(e2eDir, {recursive: true, force: true})
    },
  }
}

/** What survives a restart: typing indicators and the connection do not. */
export function persistable(state: ChatState): StoredState {
  const conversations: ChatState['conversations'] = {}
  for (const [id, conv] of Object.entries(state.conversations)) conversations[id] = {...conv, typing: {}}
  return {conversations, outbox: state.outbox, inboxToken: state.inboxToken, selected: state.selected}
}

/** Restores a stored state into a fresh one (same user only). */
export function restore(state: ChatState, stored: StoredState | undefined): ChatState {
  if (!stored) return state
  return {
    ...state,
    conversations: stored.conversations ?? {},
    outbox: (stored.outbox ?? []).filter((p) => !p.failed),
    inboxToken: stored.inboxToken,
    selected: stored.selected,
  }
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T
  } catch {
    return undefined
  }
}

function writeAtomic(path: string, text: string, mode = 0o644): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  writeFileSync(tmp, text, {mode})
  renameSync(tmp, path)
}
