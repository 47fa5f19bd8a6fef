import {describe, expect, it} from 'vitest'

import {AuditBook} from '../../../src/simulator/audit.js'

// Devices 0,1 belong to user A; device 2 to user B. One conversation between them.
function book() {
  const b = new AuditBook(3)
  const conv = b.addConversation([0, 1, 2])
  return {b, conv}
}

const msg = (seq: number, clientMsgId?: string, messageId = `m${seq}`) => ({seq, messageId, ...(clientMsgId ? {clientMsgId} : {})})
const allLive = () => 0

describe('loss audit bookkeeping', () => {
  it('expects every device of every member except the sending one, and measures live delivery', () => {
    const {b, conv} = book()
    b.sending(conv, 'c1', 100)
    b.acked(conv, 'c1', 1, 'm1', 0)
    expect(b.pending).toBe(2)
    expect(b.received(1, conv, msg(1, 'c1'), 'live', 130)).toBe(30)
    expect(b.received(2, conv, msg(1, 'c1'), 'live', 150)).toBe(50)
    expect(b.pending).toBe(0)
    expect(b.finish(allLive)).toMatchObject({messages: 1, expected: 2, deliveredLive: 2, missing: 0, liveMisses: 0, duplicated: 0})
  })

  it('counts an event that came before the ack', () => {
    const {b, conv} = book()
    b.sending(conv, 'c1', 100)
    expect(b.received(2, conv, msg(1, 'c1'), 'live', 110)).toBe(10)
    b.acked(conv, 'c1', 1, 'm1', 0)
    expect(b.pending).toBe(1) // device 1 still waits
    b.received(1, conv, msg(1, 'c1'), 'sync', 200)
    expect(b.pending).toBe(0)
  })

  it('reports what never arrived as missing, and a sync-only copy at a continuously connected device as a live miss', () => {
    const {b, conv} = book()
    b.sending(conv, 'c1', 100)
    b.acked(conv, 'c1', 1, 'm1', 0)
    b.sending(conv, 'c2', 200)
    b.acked(conv, 'c2', 2, 'm2', 0)
    b.received(2, conv, msg(1, 'c1'), 'live', 150)
    b.received(2, conv, msg(2, 'c2'), 'sync', 250) // device 2 connected since 50: should have been live
    b.received(1, conv, msg(2, 'c2'), 'sync', 250) // device 1 connected at 300 (after both sends): fine
    const liveSince = (d: number) => (d === 2 ? 50 : d === 1 ? 300 : undefined)
    expect(b.finish(liveSince)).toMatchObject({expected: 4, deliveredLive: 1, recoveredBySync: 2, liveMisses: 1, missing: 1})
  })

  it('a live copy after a sync already fetched it is still live', () => {
    const {b, conv} = book()
    b.sending(conv, 'c1', 100)
    b.acked(conv, 'c1', 1, 'm1', 0)
    b.received(2, conv, msg(1, 'c1'), 'sync', 105)
    b.received(2, conv, msg(1, 'c1'), 'live', 110)
    b.received(1, conv, msg(1, 'c1'), 'live', 110)
    expect(b.pending).toBe(0)
    expect(b.finish(allLive)).toMatchObject({deliveredLive: 2, recoveredBySync: 0, liveMisses: 0, redelivered: 0})
  })

  it('dedups by seq: redeliveries are counted apart; live order is checked per connection', () => {
    const {b, conv} = book()
    for (const [i, cid] of ['c1', 'c2', 'c3'].entries()) {
      b.sending(conv, cid, 100 + i)
      b.acked(conv, cid, i + 1, `m${i + 1}`, 0)
    }
    b.received(2, conv, msg(2, 'c2'), 'live', 200)
    b.received(2, conv, msg(1, 'c1'), 'live', 201) // behind seq 2: out of order
    b.received(2, conv, msg(2, 'c2'), 'live', 202) // again: redelivered
    b.disconnected(2)
    b.received(2, conv, msg(3, 'c3'), 'live', 300)
    expect(b.syncFrom(2, conv)).toBe(3)
    expect(b.finish(allLive)).toMatchObject({outOfOrder: 1, redelivered: 1, missing: 3, deliveredLive: 3})
  })

  it('catches a message stored twice (one clientMsgId at two seqs) and two messages at one seq', () => {
    const {b, conv} = book()
    b.sending(conv, 'c1', 100)
    b.acked(conv, 'c1', 1, 'm1', 0)
    b.received(2, conv, msg(1, 'c1'), 'live', 110)
    b.received(2, conv, msg(2, 'c1', 'm1-again'), 'live', 120) // the same send stored again at seq 2
    b.received(1, conv, msg(1, 'c9', 'other'), 'sync', 130) // seq 1 holds something else here
    expect(b.sofar()).toMatchObject({duplicated: 1, seqConflicts: 1})
    expect(b.finish(allLive)).toMatchObject({duplicated: 1, seqConflicts: 1})
  })

  it('ignores a retried ack and system messages it never sent', () => {
    const {b, conv} = book()
    b.received(2, conv, msg(1), 'live', 50) // e.g. group.created
    b.sending(conv, 'c1', 100)
    b.acked(conv, 'c1', 2, 'm2', 0)
    b.acked(conv, 'c1', 2, 'm2', 0)
    expect(b.finish(allLive)).toMatchObject({messages: 1, expected: 2, missing: 2})
    expect(b.syncFrom(2, conv)).toBe(1)
  })
})

describe('unverified deliveries', () => {
  it('counts what a device the final sync could not reach lacks as unverified, not missing', () => {
    const {b, conv} = book()
    b.sending(conv, 'c1', 100)
    b.acked(conv, 'c1', 1, 'm1', 0)
    b.received(1, conv, msg(1, 'c1'), 'live', 110)
    expect(b.finish(allLive, (d) => d === 2)).toMatchObject({expected: 2, deliveredLive: 1, missing: 0, unverified: 1})
  })
})

describe('which devices the final sync has to read', () => {
  it('none when every device got everything; its own sends count as had for the sender', () => {
    const {b, conv} = book()
    b.sending(conv, 'c1', 100)
    b.acked(conv, 'c1', 1, 'm1', 0)
    b.received(1, conv, msg(1, 'c1'), 'live', 110)
    b.received(2, conv, msg(1, 'c1'), 'live', 110)
    expect([0, 1, 2].map((d) => b.behind(d))).toEqual([[], [], []])
  })

  it('a device that missed an acknowledged message, and one with a gap below the highest seq anyone saw', () => {
    const {b, conv} = book()
    b.sending(conv, 'c1', 100)
    b.acked(conv, 'c1', 1, 'm1', 0)
    b.received(1, conv, msg(1, 'c1'), 'live', 110)
    // Seq 2 was stored but never acknowledged (its ack was lost); device 1 saw it, devices 0 and 2 did not.
    b.received(1, conv, msg(2, 'cX'), 'live', 120)
    expect(b.behind(0)).toEqual([conv])
    expect(b.behind(1)).toEqual([])
    expect(b.behind(2)).toEqual([conv])
    b.received(2, conv, msg(1, 'c1'), 'sync', 200)
    b.received(2, conv, msg(2, 'cX'), 'sync', 200)
    expect(b.behind(2)).toEqual([])
  })
})
