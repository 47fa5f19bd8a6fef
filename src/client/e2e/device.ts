import {randomUUID} from 'node:crypto'

import {
  CiphertextMessageType,
  ErrorCode,
  LibSignalErrorBase,
  PreKeyBundle,
  PreKeySignalMessage,
  ProtocolAddress,
  PublicKey,
  KEMPublicKey,
  groupDecrypt,
  groupEncrypt,
  processPreKeyBundle,
  processSenderKeyDistributionMessage,
  SenderKeyDistributionMessage,
  signalDecrypt,
  signalDecryptPreKey,
  signalEncrypt,
  SignalMessage,
} from '@signalapp/libsignal-client'

import {type OpInput, RequestError} from '../client.js'
import {type DeviceCiphertext, type DeviceEntry, type E2eEnvelope, SENDER_KEY_TYPE} from '../../core/e2e/envelope.js'
import {E2E_KIND, type KeyBundle, type KeysLowEvent, type OpName, type ResultOf, type SendResult, type ServerEvent} from '../../protocol/frames.js'
import {identityPublic, lastResort, newPreKeys, newState, PREKEY_BATCH, registration, ROTATE_AFTER_MS, rotateLastResort} from './keygen.js'
import {type DeviceKey, safetyNumber} from './safety-number.js'
import {appendHistory, b64, bytes, type E2eState, loadHistory, loadState, type PlainRecord, saveState} from './state.js'
import {createStores, type SignalStores} from './stores.js'

// One device's end-to-end encryption (docs/e2e.md), on libsignal: keys, sessions, encrypting a message
// for every device of every member, decrypting what arrives, safety numbers. Direct conversations get
// one Signal ciphertext per device; groups (more than two members) one sender-key ciphertext for all,
// with the sender key distributed to each device once over its 1:1 session.

/** What E2eDevice needs of a connection: MsgrClient fits; so does any object with the same `request`. */
export interface E2eTransport {
  request<O extends OpName>(op: O, args?: OpInput<O>): Promise<ResultOf<O>>
  on?(event: 'event', listener: (event: ServerEvent) => void): unknown
  off?(event: 'event', listener: (event: ServerEvent) => void): unknown
}

export interface E2eOpenOptions {
  /** Directory for this device's keys, sessions and decrypted history (created, mode 0700). */
  dir: string
  client: E2eTransport
  userId: string
  deviceId: string
  /** ms clock (tests); default Date.now. */
  now?: () => number
}

export interface EncryptedEvent {
  conversation: string
  seq: number
  sender: string
  senderDevice?: string
  kind: string
  body: unknown
}

/** Why a message could not be read (docs/e2e.md lists them). */
export type DecryptFailure =
  | 'e2e_not_encrypted'
  | 'e2e_malformed'
  | 'e2e_no_ciphertext'
  | 'e2e_decrypt_failed'
  | 'e2e_duplicate'
  | 'e2e_untrusted_identity'
  | 'e2e_wrong_conversation'

export type DecryptResult = {ok: true; text: string; replyTo?: number} | {ok: false; code: DecryptFailure; message: string}

/** Plaintext inside each ciphertext: bound to its conversation so the server cannot replay it elsewhere. */
interface Payload {
  v: 1
  conversation: string
  text: string
  replyTo?: number
}

/** What a group's 1:1 entries carry: the sender's SenderKeyDistributionMessage (base64). */
interface KeyPayload {
  v: 1
  conversation: string
  skdm: string
}

export class E2eDevice {
  private queue: Promise<unknown> = Promise.resolve()
  private readonly stores: SignalStores
  private readonly local: ProtocolAddress
  private readonly history = new Map<string, PlainRecord>()
  private client: E2eTransport
  private readonly onEvent = (event: ServerEvent) => {
    if (event.ev === 'keys.low' && (event as KeysLowEvent).device === this.deviceId) void this.replenish().catch(() => {})
  }

  private constructor(
    private readonly dir: string,
    private readonly state: E2eState,
    client: E2eTransport,
    private readonly now: () => number,
  ) {
    this.stores = createStores(state)
    this.local = address(state.userId, state.deviceId)
    this.client = client
    client.on?.('event', this.onEvent)
  }

  /** Loads (or creates) this device's keys; registers them with the server when it does not have them; tops up prekeys. */
  static async open(options: E2eOpenOptions): Promise<E2eDevice> {
    const now = options.now ?? Date.now
    let state = await loadState(options.dir)
    if (state && (state.userId !== options.userId || state.deviceId !== options.deviceId)) {
      throw new Error(`${options.dir} holds the keys of device ${state.deviceId} of user ${state.userId}, not ${options.deviceId}: use another directory`)
    }
    const created = !state
    state ??= newState(options.userId, options.deviceId, now())
    if (created) await saveState(options.dir, state)
    const device = new E2eDevice(options.dir, state, options.client, now)
    for (const record of await loadHistory(options.dir)) device.history.set(key(record.conversation, record.seq), record)
    await device.serial(() => device.register())
    return device
  }

  get userId(): string {
    return this.state.userId
  }

  get deviceId(): string {
    return this.state.deviceId
  }

  /** This device's public identity key (base64). */
  get identityKey(): string {
    return identityPublic(this.state)
  }

  /** Switches to a new connection (after a reconnect). */
  useClient(client: E2eTransport): void {
    this.client.off?.('event', this.onEvent)
    this.client = client
    client.on?.('event', this.onEvent)
  }

  /** Stops listening for keys.low on the current connection. */
  close(): void {
    this.client.off?.('event', this.onEvent)
  }

  /**
   * Encrypts `plaintext` for every device of every member (this device excepted; with more than two
   * members under this device's sender key) and sends it as kind `encrypted`. On device_mismatch it
   * starts sessions with the missing and stale devices, forgets the extra ones and sends once more.
   * Retrying with the same clientMsgId is safe (the server answers `duplicate`).
   */
  send(conversation: string, memberUserIds: readonly string[], plaintext: {text: string; replyTo?: number}, clientMsgId: string): Promise<SendResult> {
    return this.serial(async () => {
      const users = [...new Set([...memberUserIds, this.userId])]
      for (const user of users) if (this.state.devices[user] === undefined) await this.refreshUser(user)
      const payload: Payload = {v: 1, conversation, text: plaintext.text, ...(plaintext.replyTo === undefined ? {} : {replyTo: plaintext.replyTo})}
      let result: SendResult
      try {
        result = await this.sendOnce(conversation, users, payload, clientMsgId)
      } catch (error) {
        if (!(error instanceof RequestError) || error.code !== 'device_mismatch') throw error
        await this.applyMismatch(error.error.details ?? {})
        result = await this.sendOnce(conversation, users, payload, clientMsgId)
      }
      await this.remember({conversation, seq: result.seq, sender: this.userId, text: payload.text, ...(payload.replyTo === undefined ? {} : {replyTo: payload.replyTo})})
      return result
    })
  }

  /** Decrypts a `message` event or synced message; repeats and this device's own sends come from the local history. */
  decrypt(event: EncryptedEvent): Promise<DecryptResult> {
    return this.serial(() => this.decryptNow(event))
  }

  /** libsignal's 60-digit displayable fingerprint of this user and `peerUserId` (same on both sides). */
  safetyNumber(peerUserId: string): Promise<string> {
    return this.serial(async () => {
      const mine = await this.client.request('keys.devices', {user: this.userId})
      const theirs = await this.client.request('keys.devices', {user: peerUserId})
      const own: DeviceKey[] = mine.devices.filter((d) => d.device !== this.deviceId).map((d) => ({device: d.device, identityKey: this.pinned(this.userId, d)}))
      own.push({device: this.deviceId, identityKey: this.identityKey})
      const peer: DeviceKey[] = theirs.devices.filter((d) => d.device !== this.deviceId).map((d) => ({device: d.device, identityKey: this.pinned(peerUserId, d)}))
      if (peerUserId === this.userId) return safetyNumber({user: this.userId, devices: own}, {user: peerUserId, devices: own})
      return safetyNumber({user: this.userId, devices: own}, {user: peerUserId, devices: peer})
    })
  }

  /** Plaintexts this device has read or sent in `conversation`, by seq: the only place they exist. */
  localHistory(conversation: string): PlainRecord[] {
    return [...this.history.values()].filter((r) => r.conversation === conversation).sort((a, b) => a.seq - b.seq)
  }

  /** Client-side search (the server cannot search encrypted conversations): case-insensitive substring. */
  searchLocal(query: string): PlainRecord[] {
    const needle = query.toLocaleLowerCase()
    return [...this.history.values()].filter((r) => r.text.toLocaleLowerCase().includes(needle))
  }

  /** Uploads a new batch of one-time prekeys when the server holds fewer than its threshold. */
  replenish(): Promise<{preKeys: number}> {
    return this.serial(async () => {
      const count = await this.client.request('keys.count', {})
      if (!count.low) return {preKeys: count.preKeys}
      return {preKeys: (await this.uploadPreKeys()).preKeys}
    })
  }

  // ---- internals; every public operation runs inside serial() ----

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
    return run
  }

  private async register(): Promise<void> {
    const listed = await this.client.request('keys.devices', {user: this.userId})
    const me = listed.devices.find((d) => d.device === this.deviceId)
    if (!me || me.identityKey !== this.identityKey) {
      const preKeys = newPreKeys(this.state, PREKEY_BATCH)
      await this.save()
      await this.client.request('keys.upload', registration(this.state, preKeys))
      return
    }
    if (this.now() - this.state.current.createdAt > ROTATE_AFTER_MS) {
      rotateLastResort(this.state, this.now())
      await this.save()
      await this.client.request('keys.upload', lastResort(this.state))
    }
    const count = await this.client.request('keys.count', {})
    if (count.low) await this.uploadPreKeys()
  }

  private async uploadPreKeys() {
    const preKeys = newPreKeys(this.state, PREKEY_BATCH)
    await this.save() // private halves on disk before the public ones can be handed out
    return this.client.request('keys.upload', {preKeys})
  }

  /** Learns `user`'s current devices; starts sessions (one bundle each) with those it has none with. */
  private async refreshUser(user: string): Promise<void> {
    const listed = await this.client.request('keys.devices', {user})
    const devices = listed.devices.filter((d) => d.device !== this.deviceId)
    const need: string[] = []
    for (const d of devices) {
      const addr = address(user, d.device).toString()
      const pinned = this.state.identities[addr]
      if (pinned !== undefined && pinned !== d.identityKey) {
        // The device re-registered with a new identity: its old session is useless (the safety number changes).
        delete this.state.sessions[addr]
        delete this.state.identities[addr]
        this.forgetSenderKeysOf(d.device)
      }
      if (this.state.sessions[addr] === undefined) need.push(d.device)
    }
    this.state.devices[user] = devices.map((d) => d.device)
    if (need.length > 0) await this.startSessions(user, need)
    await this.save()
  }

  private async startSessions(user: string, devices: string[]): Promise<void> {
    for (let i = 0; i < devices.length; i += 100) {
      const {devices: bundles} = await this.client.request('keys.bundle', {user, devices: devices.slice(i, i + 100)})
      for (const bundle of bundles) {
        await processPreKeyBundle(toPreKeyBundle(bundle), address(user, bundle.device), this.local, this.stores.session, this.stores.identity)
        const list = (this.state.devices[user] ??= [])
        if (!list.includes(bundle.device)) list.push(bundle.device)
      }
    }
  }

  /** device_mismatch: forget the extra devices (their sessions stay, harmless), add the missing ones, restart the stale ones. */
  private async applyMismatch(details: Record<string, unknown>): Promise<void> {
    const extra = Array.isArray(details.extra) ? (details.extra as string[]) : []
    for (const [user, list] of Object.entries(this.state.devices)) this.state.devices[user] = list.filter((d) => !extra.includes(d))
    const missing = Array.isArray(details.missing) ? (details.missing as Array<{user: string; device: string}>) : []
    const stale = Array.isArray(details.stale) ? (details.stale as Array<{user: string; device: string}>) : []
    for (const {user, device} of stale) {
      // The device re-registered (new identity, new registration id): the directory vouches for the new key.
      delete this.state.sessions[address(user, device).toString()]
      delete this.state.identities[address(user, device).toString()]
      this.forgetSenderKeysOf(device)
    }
    const need = new Map<string, string[]>()
    for (const {user, device} of [...missing, ...stale]) {
      const list = (this.state.devices[user] ??= [])
      if (!list.includes(device)) list.push(device)
      if (this.state.sessions[address(user, device).toString()] === undefined) need.set(user, [...(need.get(user) ?? []), device])
    }
    for (const [user, devices] of need) await this.startSessions(user, devices)
    await this.save()
  }

  private async sendOnce(conversation: string, users: string[], payload: Payload, clientMsgId: string): Promise<SendResult> {
    const plaintext = utf8(JSON.stringify(payload))
    const targets = users.flatMap((user) => (this.state.devices[user] ?? []).map((device) => ({user, device})))
    const envelope: E2eEnvelope = {v: 1, devices: {}}
    // Groups (more than two members): the text once under this device's sender key; each device gets
    // either a type 7 pointer to it or, the first time, the sender key itself over its 1:1 session.
    const group = users.length > 2 ? this.groupState(conversation, users, targets) : undefined
    let pairwise = plaintext
    if (group) {
      const distribution = await SenderKeyDistributionMessage.create(this.local, group.distributionId, this.stores.senderKey) // before groupEncrypt: same iteration
      const shared = await groupEncrypt(this.local, group.distributionId, this.stores.senderKey, plaintext)
      envelope.group = {ciphertext: b64(shared.serialize())}
      pairwise = utf8(JSON.stringify({v: 1, conversation, skdm: b64(distribution.serialize())} satisfies KeyPayload))
    }
    const keyed: string[] = []
    for (const {user, device} of targets) {
      const to = address(user, device)
      const session = await this.stores.session.getSession(to)
      if (group && session && group.sentTo.includes(device)) {
        envelope.devices[device] = {type: SENDER_KEY_TYPE, registrationId: session.remoteRegistrationId()}
        continue
      }
      const message = await signalEncrypt(pairwise, to, this.local, this.stores.session, this.stores.identity)
      const type = message.type() === CiphertextMessageType.PreKey ? 3 : 2
      const registrationId = (await this.stores.session.getSession(to))?.remoteRegistrationId() ?? 0
      envelope.devices[device] = {type, ciphertext: b64(message.serialize()), registrationId} satisfies DeviceCiphertext
      keyed.push(device)
    }
    await this.save() // ratchets moved: keep them even if the send fails
    const result = await this.client.request('send', {conversation, clientMsgId, kind: E2E_KIND, body: envelope})
    if (group) group.sentTo.push(...keyed.filter((d) => !group.sentTo.includes(d)))
    return result
  }

  /** This device's sender key for a group: a new one whenever a member or a device it was given to is gone. */
  private groupState(conversation: string, users: string[], targets: Array<{device: string}>) {
    const devices = new Set(targets.map((t) => t.device))
    let group = this.state.groups[conversation]
    if (!group || group.members.some((u) => !users.includes(u)) || group.sentTo.some((d) => !devices.has(d))) {
      group = {distributionId: randomUUID(), members: users, sentTo: []}
      this.state.groups[conversation] = group
    }
    group.members = users
    return group
  }

  /** A device that re-registered lost every sender key it was given. */
  private forgetSenderKeysOf(device: string): void {
    for (const group of Object.values(this.state.groups)) group.sentTo = group.sentTo.filter((d) => d !== device)
  }

  private async decryptNow(event: EncryptedEvent): Promise<DecryptResult> {
    if (event.kind !== E2E_KIND) return fail('e2e_not_encrypted', `kind ${event.kind} is not encrypted`)
    const seen = this.history.get(key(event.conversation, event.seq))
    if (seen) return ok(seen)
    const entry = ownEntry(event.body, this.deviceId)
    if (entry === 'malformed' || !event.senderDevice) return fail('e2e_malformed', 'not an encrypted envelope')
    if (!entry) return fail('e2e_no_ciphertext', 'this device was not a recipient (it did not exist or had no keys yet)')
    const from = address(event.sender, event.senderDevice)
    const shared = groupCiphertext(event.body)
    let inner: unknown
    if (entry.type === SENDER_KEY_TYPE) {
      inner = undefined
    } else {
      const pairwise = await this.attempt(() => this.decryptPairwise(entry, from))
      if ('failure' in pairwise) return pairwise.failure
      inner = pairwise.json
    }
    if (isKeyPayload(inner)) {
      // The sender's sender key for this group, over our 1:1 session; the text is in the group ciphertext.
      if (inner.conversation !== event.conversation) return fail('e2e_wrong_conversation', 'the ciphertext was written for another conversation')
      const skdm = inner.skdm
      const distributed = await this.attempt(async () => {
        await processSenderKeyDistributionMessage(from, SenderKeyDistributionMessage.deserialize(bytes(skdm)), this.stores.senderKey)
        return new Uint8Array()
      })
      if ('failure' in distributed) return distributed.failure
      inner = undefined
    }
    if (inner === undefined) {
      if (shared === undefined) return fail('e2e_malformed', 'a sender-key entry without the group ciphertext')
      const grouped = await this.attempt(() => groupDecrypt(from, this.stores.senderKey, bytes(shared)))
      if ('failure' in grouped) return grouped.failure
      inner = grouped.json
    }
    await this.save()
    const payload = inner as Payload | undefined
    if (payload?.v !== 1 || typeof payload.text !== 'string') return fail('e2e_malformed', 'the decrypted content is not a msgr payload')
    if (payload.conversation !== event.conversation) return fail('e2e_wrong_conversation', 'the ciphertext was written for another conversation')
    // A device we did not know wrote to us: reply to it too.
    const list = (this.state.devices[event.sender] ??= [])
    if (event.senderDevice !== this.deviceId && !list.includes(event.senderDevice)) list.push(event.senderDevice)
    const record: PlainRecord = {conversation: event.conversation, seq: event.seq, sender: event.sender, text: payload.text}
    if (typeof payload.replyTo === 'number') record.replyTo = payload.replyTo
    await this.remember(record)
    return ok(record)
  }

  private decryptPairwise(entry: DeviceCiphertext, from: ProtocolAddress): Promise<Uint8Array> {
    const data = bytes(entry.ciphertext)
    return entry.type === 3
      ? signalDecryptPreKey(
          PreKeySignalMessage.deserialize(data),
          from,
          this.local,
          this.stores.session,
          this.stores.identity,
          this.stores.preKey,
          this.stores.signedPreKey,
          this.stores.kyberPreKey,
        )
      : signalDecrypt(SignalMessage.deserialize(data), from, this.local, this.stores.session, this.stores.identity)
  }

  /** Runs a libsignal step: its output parsed as JSON (undefined if it is not), or the coded failure. */
  private async attempt(step: () => Promise<Uint8Array>): Promise<{json: unknown} | {failure: DecryptResult}> {
    let plain: Uint8Array
    try {
      plain = await step()
    } catch (error) {
      return {failure: libsignalFailure(error)}
    }
    try {
      return {json: plain.length === 0 ? undefined : JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(plain))}
    } catch {
      return {json: null}
    }
  }

  private pinned(user: string, listed: {device: string; identityKey: string}): string {
    return this.state.identities[address(user, listed.device).toString()] ?? listed.identityKey
  }

  private async remember(record: PlainRecord): Promise<void> {
    this.history.set(key(record.conversation, record.seq), record)
    await appendHistory(this.dir, record)
    await this.save()
  }

  private save(): Promise<void> {
    return saveState(this.dir, this.state)
  }
}

/** Each msgr device is its own Signal address (libsignal device ids are 1..127; msgr's are UUIDs). */
export function address(user: string, device: string): ProtocolAddress {
  return ProtocolAddress.new(`${user}.${device}`, 1)
}

function toPreKeyBundle(b: KeyBundle): PreKeyBundle {
  return PreKeyBundle.new(
    b.registrationId,
    1,
    b.preKey ? b.preKey.id : null,
    b.preKey ? PublicKey.deserialize(bytes(b.preKey.publicKey)) : null,
    b.signedPreKey.id,
    PublicKey.deserialize(bytes(b.signedPreKey.publicKey)),
    bytes(b.signedPreKey.signature),
    PublicKey.deserialize(bytes(b.identityKey)),
    b.kyberPreKey.id,
    KEMPublicKey.deserialize(bytes(b.kyberPreKey.publicKey)),
    bytes(b.kyberPreKey.signature),
  )
}

function ownEntry(body: unknown, device: string): DeviceEntry | undefined | 'malformed' {
  if (typeof body !== 'object' || body === null) return 'malformed'
  const devices = (body as {devices?: unknown}).devices
  if (typeof devices !== 'object' || devices === null) return 'malformed'
  const entry = (devices as Record<string, unknown>)[device]
  if (entry === undefined) return undefined
  const {type, ciphertext, registrationId} = entry as {type?: number; ciphertext?: unknown; registrationId?: number}
  if (type === SENDER_KEY_TYPE) return {type: SENDER_KEY_TYPE, registrationId: registrationId ?? 0}
  if ((type !== 2 && type !== 3) || typeof ciphertext !== 'string') return 'malformed'
  return {type, ciphertext, registrationId: registrationId ?? 0}
}

function groupCiphertext(body: unknown): string | undefined {
  const group = (body as {group?: {ciphertext?: unknown}} | null)?.group
  return typeof group?.ciphertext === 'string' ? group.ciphertext : undefined
}

function isKeyPayload(value: unknown): value is KeyPayload {
  return typeof value === 'object' && value !== null && typeof (value as KeyPayload).skdm === 'string' && (value as KeyPayload).v === 1
}

function utf8(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text) as Uint8Array<ArrayBuffer>
}

function libsignalFailure(error: unknown): DecryptResult {
  if (error instanceof LibSignalErrorBase) {
    if (error.code === ErrorCode.DuplicatedMessage) return fail('e2e_duplicate', error.message)
    if (error.code === ErrorCode.UntrustedIdentity) return fail('e2e_untrusted_identity', error.message)
  }
  return fail('e2e_decrypt_failed', error instanceof Error ? error.message : String(error))
}

function ok(record: PlainRecord): DecryptResult {
  return record.replyTo === undefined ? {ok: true, text: record.text} : {ok: true, text: record.text, replyTo: record.replyTo}
}

function fail(code: DecryptFailure, message: string): DecryptResult {
  return {ok: false, code, message}
}

function key(conversation: string, seq: number): string {
  return `${conversation}:${seq}`
}
