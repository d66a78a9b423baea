import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { withDelivery, deliveryIdle, memoryDedupe, redisDedupe, DeliveryTimeoutError } from '../../index.js'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { messageFrame } from '../../lib/client/frames.js'
import { buildApp } from '../helpers/app.js'
import { listen, sleep, tcpProxy, until } from '../helpers/net.js'

/**
 * Issue 17 (trial: "a handler that never settles blocks its session on every
 * instance, forever, with no report"). Instance A's handler hung; the client
 * came back on B; A renewed its Redis claim forever (also after its socket
 * closed), B polled and never acked, onError never heard of it. With the
 * memory window, re-send sockets waited on the hung hold and checked their own
 * socket only after it ended: every closed re-send socket stayed in memory.
 *
 * Now: `handlerTimeoutMs` (default 30 s) bounds a handler. After it the claim
 * is released (process and Redis; renewal stops), onError gets a
 * DeliveryTimeoutError, the socket closes 1011, and the re-send runs
 * (at-least-once). A waiting re-send stops waiting when its own socket closes.
 */

const WS = WebSocket as unknown as WebSocketConstructor

t.test('fleet on the real Redis: A\'s handler hangs, its socket is cut, the re-send on B runs once A\'s timeout releases the claim', async (t) => {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  await redis.connect() // the shared Redis: a private prefix, our keys deleted at the end, nothing flushed
  const prefix = `fastify-readiness:test:hang:${process.pid}:${Date.now()}:`
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`) // this run's private prefix only (the keys carry the incarnation)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  const errorsA: unknown[] = []
  const handledB: string[] = []
  const appA = await buildApp(t, {})
  appA.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, async () => { await new Promise(() => {}) }, {
      store: redisDedupe(redis, { prefix, claimTtlMs: 300 }), handlerTimeoutMs: 1500, onError: (err) => errorsA.push(err)
    })
  })
  const appB = await buildApp(t, {})
  appB.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, (text) => { handledB.push(String(text)) }, { store: redisDedupe(redis, { prefix, claimTtlMs: 300 }) })
  })
  const [pa, pb] = [(await listen(appA)).port, (await listen(appB)).port]
  await until(() => appA.readiness.isReady() && appB.readiness.isReady())
  let next = pa
  const lb = await tcpProxy(t, () => { const port = next; next = pb; return port }) // first to A, then to B
  const client = new ReadinessClient(`ws://127.0.0.1:${lb.port}/chat`, { WebSocket: WS, delivery: { sessionId: 'sessionHANGfleet' }, backoff: { initialMs: 50, maxMs: 100 } })
  t.teardown(() => client.close())
  await new Promise<void>((resolve) => client.on('open', () => resolve()))
  const started = Date.now()
  client.send('h1')
  client.send('h2')
  await sleep(200)
  lb.cut() // A's socket closes while its handler hangs; the client re-sends h1 and h2 to B
  const claimKey = `${prefix}sessionHANGfleet~${String(client.incarnation)}!claim`
  await sleep(700)
  t.ok((await redis.get(claimKey)) !== null, 'before the timeout, A still holds the claim (B waits: the handler might finish)')
  await until(() => client.buffered === 0, 8000)
  const took = Date.now() - started
  t.same(handledB, ['h1', 'h2'], 'B ran the re-sent messages once A gave up on its handler')
  t.ok(took >= 1400, `not before A's handlerTimeoutMs (${took} ms)`)
  t.ok(took < 5000, `and soon after it (${took} ms)`)
  t.equal(errorsA.length, 1, 'A\'s onError heard of the timeout')
  t.ok(errorsA[0] instanceof DeliveryTimeoutError, String(errorsA[0]))
  t.same((errorsA[0] as DeliveryTimeoutError).ctx, { session: 'sessionHANGfleet', seq: 1, incarnation: client.incarnation })
  await sleep(600) // two claim TTLs: a claim still being renewed would show up now
  t.equal(await redis.get(claimKey), null, 'A no longer renews its claim (B\'s write dropped B\'s own)')
})

t.test('one instance, memory window, socket stays open: after the timeout the socket closes 1011 and the re-send runs again', async (t) => {
  const app = await buildApp(t, {})
  const store = memoryDedupe()
  const calls: string[] = []
  const errors: unknown[] = []
  app.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, async (text) => {
      calls.push(String(text))
      if (calls.length === 1) await new Promise(() => {}) // only the first run hangs
    }, { store, handlerTimeoutMs: 400, onError: (err) => errors.push(err) })
  })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, delivery: true, backoff: { initialMs: 50, maxMs: 100 } })
  t.teardown(() => client.close())
  const closes: string[] = []
  client.on('close', (c) => closes.push(`${c.code} ${c.reason} ${String(c.willRetry)}`))
  await new Promise<void>((resolve) => client.on('open', () => resolve()))
  client.send('m1')
  client.send('m2')
  await until(() => client.buffered === 0, 5000)
  t.same(closes, ['1011 delivery handler timeout true'], 'the helper closed the socket 1011; the client came back')
  t.same(calls, ['m1', 'm1', 'm2'], 'm1 ran again after the timeout (at-least-once), then m2')
  t.equal(errors.length, 1)
  t.ok(errors[0] instanceof DeliveryTimeoutError)
  t.equal(await deliveryIdle(store, 500), true, 'nothing in progress any more')
})

t.test('re-sends waiting on a hung handler stop waiting, and are freed, when their own socket closes', async (t) => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const app = await buildApp(t, {})
  const store = memoryDedupe()
  const alive = new Set<WeakRef<object>>()
  let calls = 0
  app.get('/chat', { websocket: true }, (socket) => {
    const big = { socket, state: Buffer.alloc(256 * 1024) } // stands in for per-connection state the handler closes over
    alive.add(new WeakRef(big))
    withDelivery(socket, async () => { calls++; void big; await new Promise(() => {}) }, { store, handlerTimeoutMs: 60_000 })
  })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const open = async (): Promise<WebSocket> => {
    const socket = new WebSocket(`${ws}/chat`)
    await new Promise((resolve) => socket.once('open', resolve))
    return socket
  }
  const first = await open()
  first.send(messageFrame('sessionWAITERS', 1, 'hang'))
  await until(() => calls === 1)
  const N = 40
  for (let i = 0; i < N; i++) {
    const s = await open()
    s.send(messageFrame('sessionWAITERS', 1, 'hang'))
    s.send(messageFrame('sessionWAITERS', 2, 'x'))
    await sleep(5)
    s.close()
    await new Promise((resolve) => s.once('close', resolve))
  }
  await sleep(200)
  for (let i = 0; i < 5; i++) { gc(); await sleep(50) }
  const remaining = [...alive].filter((ref) => ref.deref() !== undefined).length
  t.equal(calls, 1, 'no re-send ran the hung message: they waited (the timeout is 60 s)')
  t.ok(remaining <= 2, `of ${N + 1} sockets' state, ${remaining} still in memory (the hung first one, at most one more)`)
  t.equal(await deliveryIdle(store, 300), false, 'the first handler is still in progress: not idle')
  first.terminate()
})

t.test('handlerTimeoutMs is validated', async (t) => {
  const fake = { readyState: 1, send: () => {}, on: () => fake }
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 31]) {
    t.throws(() => withDelivery(fake, () => {}, { handlerTimeoutMs: bad }), /handlerTimeoutMs/, String(bad))
  }
})
