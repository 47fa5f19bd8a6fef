import {
  Direction,
  IdentityChange,
  IdentityKeyPair,
  IdentityKeyStore,
  KyberPreKeyRecord,
  KyberPreKeyStore,
  type PrivateKey,
  type ProtocolAddress,
  PreKeyRecord,
  PreKeyStore,
  PublicKey,
  SenderKeyRecord,
  SenderKeyStore,
  SessionRecord,
  SessionStore,
  SignedPreKeyRecord,
  SignedPreKeyStore,
} from '@signalapp/libsignal-client'

import {b64, bytes, type E2eState} from './state.js'

// libsignal's store interfaces over one E2eState object (saved to disk by the caller after each operation).

export interface SignalStores {
  identity: IdentityKeyStore
  session: SessionStore
  preKey: PreKeyStore
  signedPreKey: SignedPreKeyStore
  kyberPreKey: KyberPreKeyStore
  senderKey: SenderKeyStore
}

export function createStores(state: E2eState): SignalStores {
  const pair = IdentityKeyPair.deserialize(bytes(state.identity))
  return {
    identity: new StateIdentityStore(state, pair),
    session: new StateSessionStore(state),
    preKey: new StatePreKeyStore(state),
    signedPreKey: new StateSignedPreKeyStore(state),
    kyberPreKey: new StateKyberPreKeyStore(state),
    senderKey: new StateSenderKeyStore(state),
  }
}

/**
 * Trust on first use per device address. Receiving, like Signal's clients, accepts a device's new
 * identity (it re-registered; the safety number changes). Sending to a key other than the pinned one is
 * refused; E2eDevice re-pins only when the server's directory itself lists the new key.
 */
class StateIdentityStore extends IdentityKeyStore {
  constructor(
    private readonly state: E2eState,
    private readonly pair: IdentityKeyPair,
  ) {
    super()
  }
  async getIdentityKey(): Promise<PrivateKey> {
    return this.pair.privateKey
  }
  async getLocalRegistrationId(): Promise<number> {
    return this.state.registrationId
  }
  async saveIdentity(name: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    const known = this.state.identities[name.toString()]
    this.state.identities[name.toString()] = b64(key.serialize())
    return known !== undefined && known !== b64(key.serialize()) ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged
  }
  async isTrustedIdentity(name: ProtocolAddress, key: PublicKey, direction: Direction): Promise<boolean> {
    if (direction === Direction.Receiving) return true
    const known = this.state.identities[name.toString()]
    return known === undefined || known === b64(key.serialize())
  }
  async getIdentity(name: ProtocolAddress): Promise<PublicKey | null> {
    const known = this.state.identities[name.toString()]
    return known === undefined ? null : PublicKey.deserialize(bytes(known))
  }
}

class StateSessionStore extends SessionStore {
  constructor(private readonly state: E2eState) {
    super()
  }
  async saveSession(name: ProtocolAddress, record: SessionRecord): Promise<void> {
    this.state.sessions[name.toString()] = b64(record.serialize())
  }
  async getSession(name: ProtocolAddress): Promise<SessionRecord | null> {
    const stored = this.state.sessions[name.toString()]
    return stored === undefined ? null : SessionRecord.deserialize(bytes(stored))
  }
  async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
    return addresses.map((address) => {
      const stored = this.state.sessions[address.toString()]
      if (stored === undefined) throw new Error(`no session for ${address.toString()}`)
      return SessionRecord.deserialize(bytes(stored))
    })
  }
}

class StatePreKeyStore extends PreKeyStore {
  constructor(private readonly state: E2eState) {
    super()
  }
  async savePreKey(id: number, record: PreKeyRecord): Promise<void> {
    this.state.preKeys[id] = b64(record.serialize())
  }
  async getPreKey(id: number): Promise<PreKeyRecord> {
    return PreKeyRecord.deserialize(bytes(need(this.state.preKeys[id], `one-time prekey ${id}`)))
  }
  async removePreKey(id: number): Promise<void> {
    delete this.state.preKeys[id]
  }
}

class StateSignedPreKeyStore extends SignedPreKeyStore {
  constructor(private readonly state: E2eState) {
    super()
  }
  async saveSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> {
    this.state.signedPreKeys[id] = b64(record.serialize())
  }
  async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
    return SignedPreKeyRecord.deserialize(bytes(need(this.state.signedPreKeys[id], `signed prekey ${id}`)))
  }
}

class StateKyberPreKeyStore extends KyberPreKeyStore {
  constructor(private readonly state: E2eState) {
    super()
  }
  async saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
    this.state.kyberPreKeys[id] = b64(record.serialize())
  }
  async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    return KyberPreKeyRecord.deserialize(bytes(need(this.state.kyberPreKeys[id], `Kyber prekey ${id}`)))
  }
  // Only last-resort Kyber keys are published; they stay until rotated.
  async markKyberPreKeyUsed(): Promise<void> {}
}

class StateSenderKeyStore extends SenderKeyStore {
  constructor(private readonly state: E2eState) {
    super()
  }
  async saveSenderKey(sender: ProtocolAddress, distributionId: string, record: SenderKeyRecord): Promise<void> {
    this.state.senderKeys[`${sender.toString()}::${distributionId}`] = b64(record.serialize())
  }
  async getSenderKey(sender: ProtocolAddress, distributionId: string): Promise<SenderKeyRecord | null> {
    const stored = this.state.senderKeys[`${sender.toString()}::${distributionId}`]
    return stored === undefined ? null : SenderKeyRecord.deserialize(bytes(stored))
  }
}

function need(value: string | undefined, what: string): string {
  if (value === undefined) throw new Error(`${what} is not in this device's store`)
  return value
}
