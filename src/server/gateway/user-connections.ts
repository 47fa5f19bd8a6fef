import type {Connection} from './connection.js'

// The gateway's live connections by user. Most users have one connection here, so that one is stored as
// it is; only a user with two or more gets an array (a Set per user costs ~300 bytes per idle socket).

export class UserConnections {
  private readonly byUser = new Map<string, Connection | Connection[]>()

  add(conn: Connection): void {
    const user = conn.identity.userId
    const found = this.byUser.get(user)
    if (found === undefined) this.byUser.set(user, conn)
    else if (Array.isArray(found)) {
      if (!found.includes(conn)) found.push(conn)
    } else if (found !== conn) this.byUser.set(user, [found, conn])
  }

  delete(conn: Connection): void {
    const user = conn.identity.userId
    const found = this.byUser.get(user)
    if (found === conn) this.byUser.delete(user)
    else if (Array.isArray(found)) {
      const i = found.indexOf(conn)
      if (i < 0) return
      found.splice(i, 1)
      if (found.length === 1) this.byUser.set(user, found[0]!)
    }
  }

  /** A copy of the user's connections, safe to iterate while sockets come and go (deliveries yield between slices). */
  of(user: string): readonly Connection[] {
    const found = this.byUser.get(user)
    return found === undefined ? NONE : Array.isArray(found) ? found.slice() : [found]
  }

  users(): number {
    return this.byUser.size
  }
}

const NONE: readonly Connection[] = []
