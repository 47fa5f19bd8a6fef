import {createServer} from 'node:http'

import {createAdapter} from '@socket.io/redis-adapter'
import {Redis} from 'ioredis'
import {Server} from 'socket.io'

// The usual Node peer: Socket.IO with the Redis adapter (as it is run behind a load balancer), WebSocket
// transport only. A client joins its rooms from the handshake query `r` and emits "m" {r, b}; the server
// broadcasts it to the room except the sender. Run as its own process by bench/delivery.ts: prints
// "READY <port>" when listening. REDIS_URL and BENCH_KEY (the adapter's channel prefix) from the environment.

const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const sub = pub.duplicate()
const http = createServer()
const io = new Server(http, {
  adapter: createAdapter(pub, sub, {key: process.env.BENCH_KEY ?? 'bench-socket.io'}),
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
})

io.on('connection', (socket) => {
  const rooms = String(socket.handshake.query.r ?? '').split(',').filter(Boolean)
  for (const room of rooms) void socket.join(room)
  socket.on('m', (message: {r?: unknown; b?: unknown}) => {
    if (typeof message?.r === 'string') socket.to(message.r).emit('m', message)
  })
})

http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = http.address()
  process.stdout.write(`READY ${typeof address === 'object' && address ? address.port : address}\n`)
})
process.on('SIGTERM', () => {
  void io.close()
  pub.disconnect()
  sub.disconnect()
  process.exit(0)
})
