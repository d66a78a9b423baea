import t from 'tap'
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import WebSocket, { WebSocketServer } from 'ws'
import { withDelivery, memoryDedupe } from '../../index.js'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { until } from '../helpers/net.js'

/**
 * Issue 26 (delivery): "no live-peer check". Against a server that completes the handshake and then goes
 * silent, the client stayed `open` forever; with delivery and maxBuffered 100, 100 piled up unacked and
 * 100 more were dropped, never a reconnect. Now the delivery client pings (application frames, which
 * browsers can send) every `heartbeatMs`; withDelivery answers at once; nothing back within
 * `heartbeatTimeoutMs` and the socket is cut (1006 `heartbeat timeout`), the client reconnects and re-sends.
 */

const WS = WebSocket as unknown as WebSocketConstructor

t.test('a server that completes the handshake and then never reads: the client reconnects and nothing is lost', async (t) => {
  const handled: string[] = []
  const store = memoryDedupe()
  const wss = new WebSocketServer({ noServer: true })
  wss.on('connection', (socket) => {
    withDelivery(socket, (text, ctx) => { if (ctx !== null) handled.push(String(text)) }, { store })
  })
  let upgrades = 0
  const silent: Duplex[] = []
  const server = createServer()
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (++upgrades === 1) {
      // The first connection: a real 101, then nothing: never reads, never answers (a hung peer).
      const accept = createHash('sha1').update(`${String(request.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
      socket.pause()
      silent.push(socket)
      return
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of silent) s.destroy()
    for (const c of wss.clients) c.terminate()
    wss.close()
    await new Promise((resolve) => server.close(resolve))
  })
  const { port } = server.address() as { port: number }
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/`, { WebSocket: WS, delivery: { heartbeatMs: 200, heartbeatTimeoutMs: 300 }, maxBuffered: 100, backoff: { initialMs: 50, maxMs: 100 } })
  t.teardown(() => client.close())
  const closes: string[] = []
  let dropped = 0
  let acked = 0
  client.on('close', (c) => closes.push(`${c.code} ${c.reason}`))
  client.on('dropped', () => { dropped++ })
  client.on('acked', (seq) => { acked = seq })
  await new Promise<void>((resolve) => client.on('open', () => resolve()))
  for (let i = 1; i <= 100; i++) client.send(`m${i}`) // all onto the silent socket
  t.equal(client.buffered, 100, '100 unacknowledged on the silent socket')
  await until(() => acked === 100, 20_000)
  t.same(closes, ['1006 heartbeat timeout'], 'the silent server was detected and the socket cut')
  t.equal(upgrades, 2, 'then one reconnect')
  t.equal(dropped, 0, 'nothing dropped')
  t.same(handled, Array.from({ length: 100 }, (_, i) => `m${i + 1}`), 'every message handled once, in order, after the reconnect')
  t.equal(client.state, 'open')
})

t.test('heartbeat options are checked; a pong never reaches the app', async (t) => {
  t.throws(() => new ReadinessClient('ws://127.0.0.1:1/', { WebSocket: WS, delivery: { heartbeatMs: -1 } }), /delivery\.heartbeatMs/)
  t.throws(() => new ReadinessClient('ws://127.0.0.1:1/', { WebSocket: WS, delivery: { heartbeatTimeoutMs: 0 } }), /delivery\.heartbeatTimeoutMs/)
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((resolve) => wss.once('listening', resolve))
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  let pings = 0
  wss.on('connection', (socket) => {
    withDelivery(socket, () => { t.fail('a ping reached the handler') })
    socket.on('message', (data) => { if (data.toString().startsWith('\u001Ep ')) pings++ })
  })
  const client = new ReadinessClient(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`, { WebSocket: WS, delivery: { heartbeatMs: 20 } })
  t.teardown(() => client.close())
  const messages: unknown[] = []
  client.on('message', (m) => messages.push(m))
  await until(() => pings >= 5)
  t.same(messages, [], 'the pongs were the client\'s own')
  t.equal(client.state, 'open', 'a server that answers stays connected')
})
