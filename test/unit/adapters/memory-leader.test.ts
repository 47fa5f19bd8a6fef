import {describe, expect, it} from 'vitest'

import {createMemoryLeaderElection, createMemoryLeaderGroup} from '../../../src/adapters/memory/leader.js'

describe('memory leader election', () => {
  it('a lone candidate always leads', async () => {
    const election = createMemoryLeaderElection()
    expect(election.isLeader()).toBe(true)
    await election.close()
    expect(election.isLeader()).toBe(false)
  })

  it('the first in line leads; the next takes over when it closes', async () => {
    const group = createMemoryLeaderGroup()
    const [a, b, c] = ['a', 'b', 'c'].map((id) => group.campaign(id))
    const changes: string[] = []
    a!.onChange((leader) => changes.push(`a:${leader}`))
    b!.onChange((leader) => changes.push(`b:${leader}`))
    c!.onChange((leader) => changes.push(`c:${leader}`))
    expect([a, b, c].map((e) => e!.isLeader())).toEqual([true, false, false])
    await c!.close() // a follower leaving changes nothing
    await a!.close()
    expect(b!.isLeader()).toBe(true)
    expect(changes).toEqual(['a:false', 'b:true'])
    await b!.close()
    expect(group.campaign('d').isLeader()).toBe(true)
  })
})
