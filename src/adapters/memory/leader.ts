import type {LeaderElection} from '../../core/ports.js'

// Leadership inside one process: the first candidate leads, the next one in line takes over when it
// closes. A lone candidate (`msgr serve all`) is always the leader.

export interface MemoryLeaderGroup {
  /** Joins the line; leader at once when nobody else is in it. */
  campaign(candidate: string): LeaderElection
}

export function createMemoryLeaderGroup(): MemoryLeaderGroup {
  const line: Candidate[] = []

  return {
    campaign(candidate) {
      const me: Candidate = {id: candidate, listeners: new Set()}
      line.push(me)
      return {
        kind: 'memory',
        isLeader: () => line[0] === me,
        onChange(cb) {
          me.listeners.add(cb)
          return () => me.listeners.delete(cb)
        },
        async close() {
          const index = line.indexOf(me)
          if (index < 0) return
          line.splice(index, 1)
          if (index !== 0) return
          notify(me, false)
          me.listeners.clear()
          if (line[0]) notify(line[0], true)
        },
      }
    },
  }
}

/** A single candidate: always the leader. */
export function createMemoryLeaderElection(candidate = 'local'): LeaderElection {
  return createMemoryLeaderGroup().campaign(candidate)
}

interface Candidate {
  id: string
  listeners: Set<(leader: boolean) => void>
}

function notify(candidate: Candidate, leader: boolean): void {
  for (const cb of candidate.listeners) {
    try {
      cb(leader)
    } catch {
      // a listener's failure is its own business
    }
  }
}
