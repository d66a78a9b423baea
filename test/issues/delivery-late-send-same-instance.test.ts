import t, { type Test } from 'tap'
import { createServer, connect as tcpConnect, type Socket } from 'node:net'
import WebSocket from 'ws'
import { withDelivery, memoryDedupe } from '../../index.js'
import { memoryOutbox, type DeliverySession } from '../../lib/delivery/index.js'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { buildApp } from '../helpers/app.js'
import { listen, until } from '../helpers/net.js'

/**
 * Issue 26 (delivery), the memory-outbox variant of a late send: one instance, a connection that breaks on
 * the client's side only (half-open: the server has not noticed, its old socket still looks open). The
 * client reconnects to the same instance; the handler still running on the old socket sends its late replies
 * on that old, dead socket, so the client never had them, and the new socket's next send jumped: a
 * `resumeFailed` for replies the outbox held, then acked away. Now a socket that a newer one of the same
 * incarnation replaced hands its sends to it, and any jump is filled from the outbox first.
 */

const WS = WebSocket as unknown as WebSocketConstructor

/** A TCP proxy whose `cut()` drops the client's side only: the server's side stays open, its bytes go nowhere. */
async function halfOpenProxy (t: Test, port: number): Promise<{ port: number, cut: () => void }> {
  const pairs = new Set<{ client: Socket, upstream: Socket }>()
  const kept = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = tcpConnect(port, '127.0.0.1')
    client.on('error', () => {})
    upstream.on('error', () => {})
    client.pipe(upstream)
    upstream.pipe(client)
    pairs.add({ client, upstream })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    for (const { client, upstream } of pairs) { client.destroy(); upstream.destroy() }
    for (const s of kept) s.destroy()
    server.close(() => resolve())
  }))
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      for (const pair of pairs) {
        pair.client.unpipe(pair.upstream)
        pair.upstream.unpipe(pair.client)
        pair.client.destroy()
        pair.upstream.on('data', () => {}) // read and dropped: the server's writes succeed into nothing
        kept.add(pair.upstream)
      }
      pairs.clear()
    }
  }
}

t.test('memory outbox, one instance, half-open socket replaced: the old handler\'s late replies reach the new socket', async (t) => {
  let goLate = (): void => {}
  const late = new Promise<void>((resolve) => { goLate = resolve })
  const app = await buildApp(t, {})
  const sessions: DeliverySession[] = []
  const store = memoryDedupe()
  const outbox = memoryOutbox()
  app.get('/chat', { websocket: true }, (socket) => {
    const session = withDelivery(socket, async (text) => {
      if (text === 'stream') {
        session.send('r1')
        await late // still running: the message is neither recorded nor acked
        for (let k = 2; k <= 5; k++) session.send(`r${k}`)
      }
      if (text === 'next') session.send('next')
    }, { store, outbox })
    sessions.push(session)
  })
  const { port } = await listen(app)
  await until(() => app.readiness.isReady())
  const proxy = await halfOpenProxy(t, port)
  const client = new ReadinessClient(`ws://127.0.0.1:${proxy.port}/chat`, { WebSocket: WS, delivery: true, backoff: { initialMs: 50, maxMs: 100 } })
  t.teardown(() => client.close())
  const got: string[] = []
  const gaps: Array<{ from: number, to: number | null }> = []
  client.on('message', (m) => got.push(String(m)))
  client.on('resumeFailed', (g) => gaps.push(g))
  client.send('stream')
  await until(() => got.length === 1, 10_000)
  proxy.cut()
  // The new socket took the hello (its replay: nothing yet) and its re-sent `stream` waits for the old socket's handler.
  await until(() => sessions.length === 2 && sessions[1].waited > 0, 10_000)
  goLate()
  // The old handler finished (r2..r5 sent through its session), so the re-send was acked as handled.
  await until(() => sessions[1].duplicates === 1, 10_000)
  client.send('next')
  await until(() => got.includes('next'), 10_000)
  t.same(got, ['r1', 'r2', 'r3', 'r4', 'r5', 'next'], 'every reply once, in order: none went to the dead old socket only')
  t.same(gaps, [], 'no resumeFailed for replies the outbox still holds')
  t.equal(sessions[0].handled, 1, 'the stream ran once, on the old socket')
})
