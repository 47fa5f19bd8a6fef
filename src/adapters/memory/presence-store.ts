import type {PresenceRecord, PresenceStore} from '../../core/ports.js'

// In-process presence for the single node: chosen status, custom text and last seen per user.

export function createMemoryPresenceStore(): PresenceStore {
  const records = new Map<string, PresenceRecord>()
  return {
    kind: 'memory',
    async get(users) {
      const out = new Map<string, PresenceRecord>()
      for (const user of users) {
        const record = records.get(user)
        if (record) out.set(user, {...record})
      }
      return out
    },
    async set(user, patch) {
      const record = {...(records.get(user) ?? {status: 'online', lastSeen: null}), ...patch}
      if (patch.custom === undefined && 'custom' in patch) delete record.custom
      records.set(user, record)
    },
    async close() {
      records.clear()
    },
  }
}
