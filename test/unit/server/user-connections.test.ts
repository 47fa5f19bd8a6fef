import {describe, expect, it} from 'vitest'

import type {Connection} from '../../../src/server/gateway/connection.js'
import {UserConnections} from '../../../src/server/gateway/user-connections.js'

const conn = (userId: string, deviceId: string) => ({identity: {userId, deviceId, sessionId: 's'}}) as unknown as Connection

describe('user connections', () => {
  it('holds one connection as it is and several as a list, and forgets a user with none', () => {
    const index = new UserConnections()
    const a1 = conn('a', '1')
    const a2 = conn('a', '2')
    const a3 = conn('a', '3')
    const b1 = conn('b', '1')
    index.add(a1)
    index.add(a1)
    index.add(b1)
    expect(index.of('a')).toEqual([a1])
    index.add(a2)
    index.add(a3)
    index.add(a2)
    expect(index.of('a')).toEqual([a1, a2, a3])
    index.delete(a2)
    expect(index.of('a')).toEqual([a1, a3])
    index.delete(a1)
    expect(index.of('a')).toEqual([a3])
    index.delete(a1)
    index.delete(a3)
    expect(index.of('a')).toEqual([])
    expect(index.users()).toBe(1)
    expect(index.of('b')).toEqual([b1])
  })

  it('hands out a copy, so a socket closing mid-iteration does not shift the others', () => {
    const index = new UserConnections()
    const list = [conn('a', '1'), conn('a', '2'), conn('a', '3')]
    for (const c of list) index.add(c)
    const seen: Connection[] = []
    for (const c of index.of('a')) {
      seen.push(c)
      index.delete(c)
    }
    expect(seen).toEqual(list)
    expect(index.of('a')).toEqual([])
  })
})
