import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

// What one device keeps on disk for end-to-end encryption: its private keys, Signal sessions, pinned
// peer identities, the device lists it encrypts to, and the plaintexts it has read or sent (the only
// copy of them anywhere: the server holds ciphertext). All binary values are base64.

export interface E2eState {
  v: 1
  userId: string
  deviceId: string
  /** Serialized libsignal IdentityKeyPair. */
  identity: string
  registrationId: number
  nextPreKeyId: number
  preKeys: Record<string, string>
  signedPreKeys: Record<string, string>
  kyberPreKeys: Record<string, string>
  /** The current last-resort keys (ids into signedPreKeys / kyberPreKeys) and when they were made. */
  current: {signedPreKey: number; kyberPreKey: number; createdAt: number}
  /** ProtocolAddress string → serialized SessionRecord. */
  sessions: Record<string, string>
  /** ProtocolAddress string → the identity key first seen there (trust on first use). */
  identities: Record<string, string>
  /** User id → device ids (with keys) this device encrypts to; its own device is never listed. */
  devices: Record<string, string[]>
  /** `<ProtocolAddress>::<distributionId>` → serialized SenderKeyRecord (own and received sender keys). */
  senderKeys: Record<string, string>
  /** Group conversation → this device's current sender key and the devices it was distributed to. */
  groups: Record<string, {distributionId: string; members: string[]; sentTo: string[]}>
}

export interface PlainRecord {
  conversation: string
  seq: number
  sender: string
  text: string
  replyTo?: number
}

export const STATE_FILE = 'e2e-state.json'
export const HISTORY_FILE = 'e2e-history.jsonl'

export async function loadState(dir: string): Promise<E2eState | undefined> {
  try {
    const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as E2eState
    state.senderKeys ??= {}
    state.groups ??= {}
    return state
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`cannot read ${join(dir, STATE_FILE)}: ${(error as Error).message}`)
  }
}

/** Atomic replace: a crash leaves the old file or the new one, never half of one. */
export async function saveState(dir: string, state: E2eState): Promise<void> {
  await mkdir(dir, {recursive: true, mode: 0o700})
  const tmp = join(dir, `${STATE_FILE}.${process.pid}.tmp`)
  await writeFile(tmp, JSON.stringify(state), {mode: 0o600})
  await rename(tmp, join(dir, STATE_FILE))
}

export async function loadHistory(dir: string): Promise<PlainRecord[]> {
  let text: string
  try {
    text = await readFile(join(dir, HISTORY_FILE), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const records: PlainRecord[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    try {
      records.push(JSON.parse(line) as PlainRecord)
    } catch {
      // A torn last line after a crash: the message is simply read again from the server.
    }
  }
  return records
}

export async function appendHistory(dir: string, record: PlainRecord): Promise<void> {
  await mkdir(dir, {recursive: true, mode: 0o700})
  await writeFile(join(dir, HISTORY_FILE), `${JSON.stringify(record)}\n`, {flag: 'a', mode: 0o600})
}

export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64')
}

export function bytes(base64: string): Uint8Array<ArrayBuffer> {
  const buffer = Buffer.from(base64, 'base64')
  return new Uint8Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength)) as Uint8Array<ArrayBuffer>
}
