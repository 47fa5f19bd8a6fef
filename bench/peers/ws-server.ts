import {WebSocketServer, type WebSocket} from 'ws'

// The limit: a bare `ws` fanout server, no auth, no storage, no validation beyond finding the room.
// A client joins its rooms with ?r=room1,room2 and sends {"r": room, "b": body}; the server writes the
// received bytes once to every other socket of the room (the frame buffer is reused, never re-encoded).
// Run as its own process by bench/delivery.ts: prints "READY <port>" when listening.

const rooms = new Map<string, Set<WebSocket>>()
const wss = new WebSocketServer({host: '127.0.0.1', port: Number(process.env.PORT ?? 0), perMessageDeflate: false})

wss.on('connection', (ws, req) => {
  const joined = (new URL(req.url ?? '/', 'http://local').searchParams.get('r') ?? '').split(',').filter(Boolean)
  for (const room of joined) {
    let members = rooms.get(room)
    if (!members) rooms.set(room, (members = new Set()))
    members.add(ws)
  }
  ws.on('message', (data: Buffer) => {
    let room: unknown
    try {
      room = (JSON.parse(data.toString('utf8')) as {r?: unknown}).r
    } catch {
      return
    }
    for (const peer of rooms.get(String(room)) ?? []) if (peer !== ws) peer.send(data, {binary: false})
  })
  ws.on('close', () => {
    for (const room of joined) rooms.get(room)?.delete(ws)
  })
})

wss.on('listening', () => {
  const address = wss.address()
  process.stdout.write(`READY ${typeof address === "object" && address ? address.port : address}\n`)
})
process.on('SIGTERM', () => wss.close(() => process.exit(0)))
