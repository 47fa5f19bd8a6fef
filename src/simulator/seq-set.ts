// A growable bitset of sequence numbers (seqs are small, dense and start at 1): a few bytes per conversation.

export class SeqSet {
  private bits = new Uint8Array(8)

  has(seq: number): boolean {
    const byte = seq >>> 3
    return byte < this.bits.length && (this.bits[byte]! & (1 << (seq & 7))) !== 0
  }

  /** Adds `seq`; false when it was already there. */
  add(seq: number): boolean {
    const byte = seq >>> 3
    if (byte >= this.bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.bits.length * 2))
      grown.set(this.bits)
      this.bits = grown
    }
    const mask = 1 << (seq & 7)
    if (this.bits[byte]! & mask) return false
    this.bits[byte] = this.bits[byte]! | mask
    return true
  }
}
