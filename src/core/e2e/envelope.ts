import {MsgrError} from '../../errors.js'
import {E2E_KIND, type MessageView} from '../../protocol/frames.js'

// The body of a `send` of kind `encrypted` (docs/e2e.md): an entry per recipient device, each its own
// Signal ciphertext or (groups, sender keys) a pointer to the one shared `group` ciphertext. The server
// checks its shape and its device list, never its content.

/** libsignal CiphertextMessageType: 2 a SignalMessage (session exists), 3 a PreKeySignalMessage (starts one). */
export type CiphertextType = 2 | 3

/** libsignal CiphertextMessageType.SenderKey: the device reads the envelope's `group` ciphertext. */
export const SENDER_KEY_TYPE = 7

export interface DeviceCiphertext {
  type: CiphertextType
  /** base64 of the serialized libsignal message. */
  ciphertext: string
  /** The recipient's registration id as the sender's session knows it: a different one means a stale session. */
  registrationId: number
}

/** A device that already holds the sender's sender key: it decrypts `group`. */
export interface SenderKeyEntry {
  type: typeof SENDER_KEY_TYPE
  registrationId: number
}

export type DeviceEntry = DeviceCiphertext | SenderKeyEntry

export interface E2eEnvelope {
  v: 1
  /** Recipient device id → its entry. */
  devices: Record<string, DeviceEntry>
  /** A libsignal SenderKeyMessage (base64) for every device of a group at once. */
  group?: {ciphertext: string}
}

/** A device that should have received a copy, with its user (device_mismatch `details.missing`). */
export interface DeviceRef {
  user: string
  device: string
}

/** A current device as the directory lists it. */
export interface ExpectedDevice extends DeviceRef {
  registrationId: number
}

export interface DeviceMismatch {
  /** Current devices with no ciphertext. */
  missing: DeviceRef[]
  /** Addressed devices that are not current devices of a member. */
  extra: string[]
  /** Addressed with a session to an identity the device has since replaced (its registration id changed). */
  stale: DeviceRef[]
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const ENTRY_KEYS = ['type', 'ciphertext', 'registrationId']
const SENDER_KEY_ENTRY_KEYS = ['type', 'registrationId']

/** Checks the envelope shape; throws invalid_request naming the first problem. */
export function parseEnvelope(body: unknown): E2eEnvelope {
  const problem = envelopeProblem(body)
  if (problem) throw new MsgrError('invalid_request', `encrypted body: ${problem}`)
  return body as E2eEnvelope
}

/** Why `body` is not an envelope, or undefined when it is one. */
export function envelopeProblem(body: unknown): string | undefined {
  if (!isObject(body)) return 'must be an object {v: 1, devices: {…}}'
  const extraKeys = Object.keys(body).filter((k) => k !== 'v' && k !== 'devices' && k !== 'group')
  if (extraKeys.length > 0) return `unexpected field ${JSON.stringify(extraKeys[0])} (the server stores no plaintext beside the ciphertexts)`
  if (body.v !== 1) return 'v must be 1'
  if (!isObject(body.devices)) return 'devices must be an object of device id → {type, ciphertext, registrationId}'
  if (body.group !== undefined) {
    if (!isObject(body.group) || Object.keys(body.group).length !== 1 || !isBase64(body.group.ciphertext)) return 'group must be {ciphertext} with padded base64'
  }
  for (const [device, entry] of Object.entries(body.devices)) {
    if (!UUID.test(device)) return `device ${JSON.stringify(device.slice(0, 40))} is not a lower-case UUID`
    if (!isObject(entry)) return `devices.${device} must be {type, ciphertext, registrationId}`
    const keys = Object.keys(entry)
    const senderKey = entry.type === SENDER_KEY_TYPE
    if (senderKey && (keys.length !== 2 || !SENDER_KEY_ENTRY_KEYS.every((k) => keys.includes(k)))) return `devices.${device}: a type 7 entry has exactly type and registrationId`
    if (!senderKey && (keys.length !== 3 || !ENTRY_KEYS.every((k) => keys.includes(k)))) return `devices.${device} must have exactly type, ciphertext and registrationId`
    if (!senderKey && entry.type !== 2 && entry.type !== 3) return `devices.${device}.type must be 2 (message), 3 (prekey message) or 7 (sender key)`
    if (!Number.isInteger(entry.registrationId) || (entry.registrationId as number) < 1 || (entry.registrationId as number) > 16380) {
      return `devices.${device}.registrationId must be an integer 1..16380`
    }
    if (senderKey && body.group === undefined) return `devices.${device}: type 7 (sender key) needs the envelope's group ciphertext`
    if (!senderKey && !isBase64(entry.ciphertext)) return `devices.${device}.ciphertext must be non-empty, padded base64`
  }
  return undefined
}

/**
 * Signal's "mismatched devices" and "stale devices" rules: the envelope must address exactly `expected`
 * (every current device with keys of every member, the sending device excepted), each under its current
 * registration id. Returns undefined when it does.
 */
export function deviceMismatch(envelope: E2eEnvelope, expected: readonly ExpectedDevice[]): DeviceMismatch | undefined {
  const wanted = new Set(expected.map((d) => d.device))
  const missing: DeviceRef[] = []
  const stale: DeviceRef[] = []
  for (const d of expected) {
    const entry = envelope.devices[d.device]
    if (!entry) missing.push({user: d.user, device: d.device})
    else if (entry.registrationId !== d.registrationId) stale.push({user: d.user, device: d.device})
  }
  const extra = Object.keys(envelope.devices)
    .filter((d) => !wanted.has(d))
    .sort()
  return missing.length === 0 && extra.length === 0 && stale.length === 0 ? undefined : {missing, extra, stale}
}

export function mismatchError(mismatch: DeviceMismatch): MsgrError {
  return new MsgrError(
    'device_mismatch',
    `the envelope misses ${mismatch.missing.length}, has ${mismatch.extra.length} extra and ${mismatch.stale.length} stale device(s): refetch keys.bundle and send again`,
    {missing: mismatch.missing, extra: mismatch.extra, stale: mismatch.stale},
  )
}

/** The view one device gets of an encrypted message: only its own ciphertext (other kinds unchanged). */
export function forDevice<M extends Pick<MessageView, 'kind' | 'body'>>(message: M, device: string): M {
  if (message.kind !== E2E_KIND || !isObject(message.body) || !isObject(message.body.devices)) return message
  const own = (message.body.devices as Record<string, unknown>)[device]
  return {...message, body: {...message.body, devices: own === undefined ? {} : {[device]: own}}}
}

function isBase64(value: unknown): boolean {
  return typeof value === 'string' && value.length % 4 === 0 && BASE64.test(value)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
