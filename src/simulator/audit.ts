import {SeqSet} from './seq-set.js'
import type {AuditCounts} from './types.js'

// The loss audit's bookkeeping, without I/O. Devices and conversations are slice-local indexes. For every
// acknowledged message it knows the recipient devices (every device of every member except the sending
// one, which has the reply instead) and, per device and conversation, which seqs arrived live or by sync.

export interface ReceivedMessage {
  seq: number
  messageId: string
  clientMsgId?: string
}

interface AckRecord {
  messageId: string
  senderDevice: number
  sentAt: number
}

interface ConvBook {
  /** Devices of every member. */
  devices: readonly number[]
  /** Highest seq known in it: acknowledged to a sender or seen by any device. */
  highest: number
  acked: Map<number, AckRecord>
  /** clientMsgId → the seq it was first seen at (ack or event); another seq means it was stored twice. */
  seqOf: Map<string, number>
  sentAt: Map<string, number>
  duplicates: Set<string>
  conflicts: Set<number>
}

interface DeviceConv {
  live: SeqSet
  /** Created on the first seq that arrives only through sync (most never need one). */
  synced?: SeqSet
  /** Seqs this device sent itself (acknowledged to it; the server sends no event back to the sending device). */
  own?: SeqSet
  /** Highest seq received live on the current connection (reset on reconnect). */
  lastLive: number
  /** Every seq up to this one has arrived (live or sync): where a catch-up sync starts. */
  contiguous: number
}

export class AuditBook {
  private readonly convs: ConvBook[] = []
  private readonly states: Map<number, DeviceConv>[]
  /** Per device, the conversations it is a member of. */
  private readonly convsOf: number[][]
  private counts = {messages: 0, expected: 0, outOfOrder: 0, redelivered: 0}
  /** Deliveries still outstanding: acked, not yet at a recipient device. */
  pending = 0

  constructor(deviceCount: number) {
    this.states = Array.from({length: deviceCount}, () => new Map())
    this.convsOf = Array.from({length: deviceCount}, () => [])
  }

  /** Registers a conversation and the devices of all its members; returns its index. */
  addConversation(devices: readonly number[]): number {
    this.convs.push({devices, highest: 0, acked: new Map(), seqOf: new Map(), sentAt: new Map(), duplicates: new Set(), conflicts: new Set()})
    const conv = this.convs.length - 1
    for (const d of devices) this.convsOf[d]!.push(conv)
    return conv
  }

  /** A send is about to go out (its clientMsgId is unique in the run). */
  sending(conv: number, clientMsgId: string, sentAt: number): void {
    this.convs[conv]!.sentAt.set(clientMsgId, sentAt)
  }

  /** The server acknowledged a send: from now on every recipient device must end up with it. */
  acked(conv: number, clientMsgId: string, seq: number, messageId: string, senderDevice: number): void {
    const book = this.convs[conv]!
    const sentAt = book.sentAt.get(clientMsgId) ?? 0
    this.checkSeq(book, clientMsgId, seq)
    if (seq > book.highest) book.highest = seq
    const known = book.acked.get(seq)
    if (known) {
      if (known.messageId !== messageId) book.conflicts.add(seq)
      return // a retry answered from the stored row
    }
    book.acked.set(seq, {messageId, senderDevice, sentAt})
    this.counts.messages++
    const sender = this.state(senderDevice, conv)
    ;(sender.own ??= new SeqSet()).add(seq)
    this.advance(sender)
    for (const d of book.devices) {
      if (d === senderDevice) continue
      this.counts.expected++
      if (!this.has(d, conv, seq)) this.pending++
    }
  }

  /**
   * A device got a message, live (an event) or from a sync. Returns the delivery latency (ms since the
   * send) when this is the first live copy of an acknowledged or in-flight message of ours at a recipient.
   */
  received(device: number, conv: number, msg: ReceivedMessage, how: 'live' | 'sync', now: number): number | undefined {
    const book = this.convs[conv]!
    const state = this.state(device, conv)
    const ack = book.acked.get(msg.seq)
    if (ack && ack.messageId !== msg.messageId) book.conflicts.add(msg.seq)
    if (msg.seq > book.highest) book.highest = msg.seq
    if (msg.clientMsgId !== undefined && book.sentAt.has(msg.clientMsgId)) this.checkSeq(book, msg.clientMsgId, msg.seq)

    if (state.live.has(msg.seq) || (how === 'sync' && state.synced?.has(msg.seq))) {
      if (how === 'live') this.counts.redelivered++
      return undefined
    }
    const syncedFirst = how === 'live' && state.synced?.has(msg.seq) === true
    if (how === 'live') {
      if (msg.seq < state.lastLive) this.counts.outOfOrder++
      state.lastLive = Math.max(state.lastLive, msg.seq)
      state.live.add(msg.seq)
    } else {
      ;(state.synced ??= new SeqSet()).add(msg.seq)
    }
    this.advance(state)
    // A sync that ran while the event was on its way fetched it first: the live copy still counts as live.
    if (ack && ack.senderDevice !== device && !syncedFirst) this.pending--
    if (how !== 'live' || msg.clientMsgId === undefined) return undefined
    const sentAt = book.sentAt.get(msg.clientMsgId)
    const isSender = ack ? ack.senderDevice === device : false
    return sentAt === undefined || isSender ? undefined : now - sentAt
  }

  /** The device's socket closed: live order starts afresh on the next connection. */
  disconnected(device: number): void {
    for (const state of this.states[device]!.values()) state.lastLive = 0
  }

  /** Where a catch-up sync of this device starts (`after`). */
  syncFrom(device: number, conv: number): number {
    return this.states[device]!.get(conv)?.contiguous ?? 0
  }

  /**
   * The conversations in which this device has not got every seq up to the highest one known (acknowledged
   * to a sender or seen by any device): the only ones a final sync has to read. A device with none is
   * complete; a message stored twice leaves a gap below the highest seq, so it is read too.
   */
  behind(device: number): number[] {
    const states = this.states[device]!
    return this.convsOf[device]!.filter((conv) => (states.get(conv)?.contiguous ?? 0) < this.convs[conv]!.highest)
  }

  /** Highest seq this device saw live on its current connection (a higher one arriving after a gap means a miss). */
  lastLive(device: number, conv: number): number {
    return this.states[device]!.get(conv)?.lastLive ?? 0
  }

  /**
   * The final count, after the final sync. `liveSince(d)` is when device d's connection that was open at
   * the end of the settle phase said hello (undefined if it was not connected then): a message sent after
   * that instant had to reach it live. `unreachable(d)`: the final sync could not check device d.
   */
  finish(liveSince: (device: number) => number | undefined, unreachable: (device: number) => boolean = () => false): AuditCounts {
    let deliveredLive = 0
    let recoveredBySync = 0
    let missing = 0
    let unverified = 0
    let liveMisses = 0
    let duplicated = 0
    let seqConflicts = 0
    this.convs.forEach((book, conv) => {
      duplicated += book.duplicates.size
      seqConflicts += book.conflicts.size
      for (const [seq, ack] of book.acked) {
        for (const d of book.devices) {
          if (d === ack.senderDevice) continue
          const state = this.states[d]!.get(conv)
          if (state?.live.has(seq)) deliveredLive++
          else if (state?.synced?.has(seq)) {
            recoveredBySync++
            const since = liveSince(d)
            if (since !== undefined && since < ack.sentAt) liveMisses++
          } else if (unreachable(d)) unverified++
          else missing++
        }
      }
    })
    return {...this.counts, deliveredLive, recoveredBySync, missing, unverified, duplicated, liveMisses, seqConflicts}
  }

  /** Audit figures known before the end. */
  sofar(): Pick<AuditCounts, 'outOfOrder' | 'duplicated' | 'seqConflicts' | 'redelivered'> {
    let duplicated = 0
    let seqConflicts = 0
    for (const book of this.convs) {
      duplicated += book.duplicates.size
      seqConflicts += book.conflicts.size
    }
    return {outOfOrder: this.counts.outOfOrder, redelivered: this.counts.redelivered, duplicated, seqConflicts}
  }

  private checkSeq(book: ConvBook, clientMsgId: string, seq: number): void {
    const first = book.seqOf.get(clientMsgId)
    if (first === undefined) book.seqOf.set(clientMsgId, seq)
    else if (first !== seq) book.duplicates.add(`${clientMsgId}@${seq}`)
  }

  private advance(state: DeviceConv): void {
    const next = (seq: number) => state.live.has(seq) || state.synced?.has(seq) === true || state.own?.has(seq) === true
    while (next(state.contiguous + 1)) state.contiguous++
  }

  private has(device: number, conv: number, seq: number): boolean {
    const state = this.states[device]!.get(conv)
    return state !== undefined && (state.live.has(seq) || state.synced?.has(seq) === true)
  }

  private state(device: number, conv: number): DeviceConv {
    const states = this.states[device]!
    let state = states.get(conv)
    if (!state) {
      state = {live: new SeqSet(), lastLive: 0, contiguous: 0}
      states.set(conv, state)
    }
    return state
  }
}
