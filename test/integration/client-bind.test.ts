import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MsgrClient} from '../../src/client/client.js'
import {startCluster, type TestCluster} from '../helpers/cluster.js'

// The simulator spreads sockets over loopback source addresses and gives each virtual device a port of its
// own there (a kernel-chosen port costs a search of the address's ports in use): the client binds both.

describe('MsgrClient source address and port', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster('embedded', {gateways: 1, workers: 1})
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  it('binds the socket to the given local address and port, and to the address alone without a port', async () => {
    const user = await cluster.login()
    const port = 20_000 + Math.floor(Math.random() * 20_000)
    const bound = await MsgrClient.connect(cluster.gateways[0]!.url, user.accessToken, {localAddress: '127.0.0.3', localPort: port})
    const addressOnly = await MsgrClient.connect(cluster.gateways[0]!.url, user.accessToken, {localAddress: '127.0.0.4'})
    try {
      const socketOf = (c: MsgrClient) => (c.ws as unknown as {_socket: {localAddress: string; localPort: number}})._socket
      expect(socketOf(bound)).toMatchObject({localAddress: '127.0.0.3', localPort: port})
      expect(socketOf(addressOnly).localAddress).toBe('127.0.0.4')
      expect(await bound.request('ping')).toBeDefined()
    } finally {
      await Promise.all([bound.close(), addressOnly.close()])
    }
  })
})
