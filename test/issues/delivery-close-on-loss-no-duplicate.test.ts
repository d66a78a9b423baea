import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import type { FastifyInstance } from 'fastify'
import { withDelivery, memoryDedupe, redisDedupe, type DedupeStore } from '../../index.js'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { buildApp, Switch } from '../helpers/app.js'
import { listen, sleep, tcpProxy, until } from '../helpers/net.js'

/**
 * Issue 17 (delivery): "0 duplicated across closeOnLoss". An async handler
 * still runs on a message when the suite closes its socket (1013 `dependency
 * lost`); the client re-sends the unacknowledged message on its next socket.
 * The window used to be read there before the first handler had recorded the
 * message, so it ran twice: `handled {"m1":2}`. Now a message is claimed when a
 * handler starts on it (in the process, and in Redis across instances) and the
 * re-send waits for that handler's outcome, then is acknowledged.
 */

const WS = WebSocket as unknown as WebSocketConstructor

function counts (list: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const m of list) out[m] = (out[m] ?? 0) + 1
  return out
}

/** One instance: a dependency probe, a closeOnLoss route whose handler needs the dependency and is slow. */
async function instance (t: Test, dependency: Switch, store: DedupeStore | undefined, handled: string[], handlerMs: number): Promise<{ app: FastifyInstance, port: number, running: () => number }> {
  let running = 0
  const app = await buildApp(t, { probes: { db: { check: dependency.check, intervalMs: 50 } }, websocket: { mode: 'hold', holdTimeoutMs: 10_000 } })
  app.get('/chat', { websocket: true, readiness: { requires: ['db'], closeOnLoss: true } }, (socket) => {
    withDelivery(socket, async (text) => {
      running++
      while (!dependency.up) await sleep(20) // the handler writes to the dependency: it waits while it is down
      await sleep(handlerMs)
      handled.push(String(text))
      running--
    }, store === undefined ? {} : { store })
  })
  const { port } = await listen(app)
  await until(() => app.readiness.isReady())
  return { app, port, running: () => running }
}

t.test('one instance, the default memory window: a message whose handler is still running when closeOnLoss closes its socket is handled once', async (t) => {
  const db = new Switch(true)
  const handled: string[] = []
  const { port, running } = await instance(t, db, undefined, handled, 1500)
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WS, delivery: true })
  t.teardown(() => client.close())
  const closes: string[] = []
  client.on('close', (c) => closes.push(`${c.code} ${c.reason}`))
  await new Promise<void>((resolve) => client.on('open', () => resolve()))
  client.send('m1')
  client.send('m2')
  await sleep(50)
  db.up = false // the dependency drops while m1's handler is writing
  await sleep(1200)
  db.up = true // and comes back; the client reconnects and re-sends m1 and m2 while m1's first handler still runs
  await until(() => client.buffered === 0, 10_000)
  await until(() => running() === 0, 10_000) // every handler that started has finished: nothing more can be counted
  t.ok(closes.some((c) => c.startsWith('1013 dependency lost')), `closeOnLoss closed the socket (${closes.join(', ')})`)
  t.same(counts(handled), { m1: 1, m2: 1 }, 'each message handled once, the re-sent m1 acked after the first handler finished')
  t.same(handled, ['m1', 'm2'], 'in order')
})

t.test('one instance, a shared memoryDedupe: two sockets of one session never run the same message at once', async (t) => {
  const db = new Switch(true)
  const handled: string[] = []
  const { port } = await instance(t, db, memoryDedupe(), handled, 800)
  // The raw protocol: the same numbered frame on two sockets at once (a client that reconnected while the old socket lingers).
  const { messageFrame } = await import('../../lib/client/frames.js')
  const open = async (): Promise<{ ws: WebSocket, acks: string[] }> => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`)
    const acks: string[] = []
    ws.on('message', (d) => acks.push(d.toString()))
    await new Promise((resolve) => ws.once('open', resolve))
    t.teardown(() => ws.terminate())
    return { ws, acks }
  }
  const [a, b] = [await open(), await open()]
  a.ws.send(messageFrame('sessionMEMORY', 1, 'x1'))
  await sleep(50)
  b.ws.send(messageFrame('sessionMEMORY', 1, 'x1'))
  b.ws.send(messageFrame('sessionMEMORY', 2, 'x2'))
  await until(() => a.acks.length === 1 && b.acks.length === 2, 10_000)
  t.same(handled, ['x1', 'x2'], 'x1 once: the second socket waited for the first handler, then acked')
})

t.test('two instances sharing the real Redis: the re-send lands on the other instance while the first handler runs, and is handled once', async (t) => {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  await redis.connect() // the shared Redis: a private key prefix, nothing flushed
  t.teardown(() => redis.quit())
  const prefix = `fastify-readiness:test:claim:${process.pid}:${Date.now()}:`
  const handled: string[] = []
  const dbA = new Switch(true)
  const dbB = new Switch(true)
  const a = await instance(t, dbA, redisDedupe(redis, { prefix }), handled, 2500)
  const b = await instance(t, dbB, redisDedupe(redis, { prefix }), handled, 100)
  let next = a.port
  const lb = await tcpProxy(t, () => { const port = next; next = b.port; return port }) // the first connection to A, every later one to B
  const client = new ReadinessClient(`ws://127.0.0.1:${lb.port}/chat`, { WebSocket: WS, delivery: true })
  t.teardown(() => client.close())
  const closes: string[] = []
  client.on('close', (c) => closes.push(`${c.code} ${c.reason}`))
  await new Promise<void>((resolve) => client.on('open', () => resolve()))
  client.send('r1')
  client.send('r2')
  await sleep(100)
  dbA.up = false // A loses its dependency mid-handler: 1013, and the client comes back through the proxy to B
  await sleep(100)
  dbA.up = true // A's handler carries on and finishes ~2.5 s in; B receives the re-sent r1 well before that
  await until(() => client.buffered === 0, 15_000)
  await until(() => a.running() === 0 && b.running() === 0, 10_000) // A's first handler finished too: nothing more can be counted
  t.ok(closes.some((c) => c.startsWith('1013 dependency lost')), `closeOnLoss closed the socket on A (${closes.join(', ')})`)
  t.ok(lb.connections() >= 2, 'the client reconnected, to B')
  t.same(counts(handled), { r1: 1, r2: 1 }, 'r1 handled once across the fleet: B waited for A\'s claim, then acked')
})

t.test('an instance that dies mid-handler: its Redis claim expires and another instance handles the re-send (a re-send, not a loss)', async (t) => {
  const shared = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  const dying = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  await shared.connect()
  await dying.connect()
  t.teardown(() => shared.quit())
  t.teardown(() => dying.disconnect())
  const prefix = `fastify-readiness:test:claim-crash:${process.pid}:${Date.now()}:`
  const handledA: string[] = []
  const handledB: string[] = []
  const appA = await buildApp(t, {})
  appA.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, async (text) => { handledA.push(`start ${text}`); await new Promise(() => {}) }, { store: redisDedupe(dying, { prefix, claimTtlMs: 600 }) })
  })
  const appB = await buildApp(t, {})
  appB.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, (text) => { handledB.push(String(text)) }, { store: redisDedupe(shared, { prefix, claimTtlMs: 600 }) })
  })
  const [pa, pb] = [(await listen(appA)).port, (await listen(appB)).port]
  await until(() => appA.readiness.isReady() && appB.readiness.isReady())
  let next = pa
  const lb = await tcpProxy(t, () => { const port = next; next = pb; return port })
  const client = new ReadinessClient(`ws://127.0.0.1:${lb.port}/chat`, { WebSocket: WS, delivery: true, backoff: { initialMs: 50 } })
  t.teardown(() => client.close())
  await new Promise<void>((resolve) => client.on('open', () => resolve()))
  client.send('k1')
  await until(() => handledA.length === 1)
  // "kill -9" of A: its Redis connection goes (no renewal, no save) and so does the client's connection.
  dying.disconnect()
  lb.cut()
  const started = Date.now()
  await until(() => client.buffered === 0, 10_000)
  const took = Date.now() - started
  t.same(handledB, ['k1'], 'B handled the re-send once A\'s claim expired')
  t.ok(took >= 300, `B respected the dead instance's claim until it expired (${took} ms)`)
  t.ok(took < 5000, `and no longer than the claim TTL plus polling (${took} ms)`)
})
