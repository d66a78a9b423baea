import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { withDelivery, memoryDedupe } from '../../index.js'
import { memoryOutbox, redisOutbox, redisDedupe, type DeliveryOutbox, type DedupeStore } from '../../lib/delivery/index.js'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { buildApp } from '../helpers/app.js'
import { listen, tcpProxy, until } from '../helpers/net.js'

/**
 * Issue 26 (delivery): "server to client, nothing is delivered reliably": a reply sent on a socket that
 * then broke (a drain, a kill, a reconnect to another instance) was simply gone. Now `session.send`
 * numbers each message per session incarnation and keeps it in an outbox until the client acks it (in
 * batches); the client's hello on the next socket says what it has, and whichever instance it lands on
 * replays the rest, in order; beyond the outbox's bounds the client gets `resumeFailed`, never a silent gap.
 */

const WS = WebSocket as unknown as WebSocketConstructor

/** An instance whose handler answers a numbered `stream N` with N replies `r1`..`rN`, 10 per millisecond or so. */
async function instance (t: Test, store: DedupeStore, outbox: DeliveryOutbox): Promise<number> {
  const app = await buildApp(t, {})
  app.get('/chat', { websocket: true }, (socket) => {
    const session = withDelivery(socket, async (text) => {
      const n = Number(String(text).split(' ')[1])
      for (let k = 1; k <= n; k++) {
        session.send(`r${k}`)
        if (k % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1))
      }
    }, { store, outbox })
  })
  const { port } = await listen(app)
  await until(() => app.readiness.isReady())
  return port
}

/** A delivery client; `cutAt(n, fn)` runs `fn` right when the nth message arrives (so a cut lands mid-stream). */
function client (t: Test, port: number): { client: ReadinessClient, got: string[], gaps: Array<{ from: number, to: number | null }>, closes: number[], cutAt: (n: number, fn: () => void) => void } {
  const c = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WS, delivery: true, backoff: { initialMs: 50, maxMs: 100 } })
  t.teardown(() => c.close())
  const got: string[] = []
  const gaps: Array<{ from: number, to: number | null }> = []
  const closes: number[] = []
  let cut: { n: number, fn: () => void } | null = null
  c.on('message', (m) => {
    got.push(String(m))
    if (cut !== null && got.length === cut.n) { const { fn } = cut; cut = null; fn() }
  })
  c.on('resumeFailed', (g) => gaps.push(g))
  c.on('close', (e) => closes.push(e.code))
  return { client: c, got, gaps, closes, cutAt: (n, fn) => { cut = { n, fn } } }
}

async function sharedRedis (t: Test): Promise<{ redis: Redis, prefix: string }> {
  const prefix = `fastify-readiness:test:s2c:${process.pid}:${Date.now()}:`
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  await redis.connect() // the shared Redis: a private prefix, this run's keys deleted at the end
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  return { redis, prefix }
}

const expected = (n: number): string[] => Array.from({ length: n }, (_, i) => `r${i + 1}`)

t.test('memory outbox, one instance: a connection cut mid-stream resumes where it broke, once and in order', async (t) => {
  const port = await instance(t, memoryDedupe(), memoryOutbox())
  const proxy = await tcpProxy(t, () => port)
  const c = client(t, proxy.port)
  let atCut = 0
  c.cutAt(300, () => { atCut = c.got.length; proxy.cut() }) // the rest of the stream goes into a dead socket
  c.client.send('stream 2000')
  await until(() => c.got.length === 2000, 20_000)
  t.same(c.got, expected(2000), 'every reply once, in order, across the cut')
  t.same(c.gaps, [], 'no gap')
  t.equal(atCut, 300, 'the connection was cut mid-stream')
  t.ok(c.closes.length >= 1, 'and the client saw it')
})

t.test('redis outbox, two instances: the client lands on the other instance, which replays what it missed', async (t) => {
  const { redis, prefix } = await sharedRedis(t)
  const store = redisDedupe(redis, { prefix })
  const outbox = redisOutbox(redis, { prefix })
  const portA = await instance(t, store, outbox)
  const portB = await instance(t, store, outbox)
  let target = portA
  const proxy = await tcpProxy(t, () => target)
  const c = client(t, proxy.port)
  const cutDone = new Promise<void>((resolve) => c.cutAt(50, () => {
    target = 0 // nowhere, until A's 500 are all in the stream
    proxy.cut()
    resolve()
  }))
  c.client.send('stream 500')
  await cutDone
  const counter = `${prefix}${String(c.client.sessionId)}~${String(c.client.incarnation)}!out#`
  for (;;) { if (Number(await redis.get(counter)) === 500) break; await new Promise((resolve) => setTimeout(resolve, 20)) }
  target = portB
  await until(() => c.got.length === 500, 20_000)
  t.ok(proxy.connections() >= 2, 'reconnected (to B)')
  t.same(c.got, expected(500), 'every reply once, in order: B replayed A\'s unacknowledged ones from Redis')
  t.same(c.gaps, [], 'no gap')
})

t.test('beyond the outbox bound: the client is told (resumeFailed), then numbering goes on', async (t) => {
  const { redis, prefix } = await sharedRedis(t)
  const store = redisDedupe(redis, { prefix })
  const portA = await instance(t, store, redisOutbox(redis, { prefix, maxMessages: 20 }))
  let target = portA
  const proxy = await tcpProxy(t, () => target)
  const c = client(t, proxy.port)
  c.client.send('stream 1')
  await until(() => c.got.length === 1, 10_000)
  target = 0
  proxy.cut()
  await until(() => c.client.state === 'waiting')
  // While the client is away its second request is queued in the client; nothing else to send it.
  c.client.send('stream 100')
  target = portA
  await until(() => c.got.length === 101, 20_000)
  t.same(c.gaps, [], 'a request sent while away is answered on the new socket: nothing missed')
  // Now lose the socket while 100 more are sent: only the last 20 are kept.
  const before = c.got.length
  const cutDone = new Promise<void>((resolve) => c.cutAt(before + 1, () => { target = 0; proxy.cut(); resolve() }))
  c.client.send('stream 100')
  await cutDone
  const counter = `${prefix}${String(c.client.sessionId)}~${String(c.client.incarnation)}!out#`
  for (;;) { if (Number(await redis.get(counter)) === 201) break; await new Promise((resolve) => setTimeout(resolve, 20)) }
  target = portA
  await until(() => c.got.length >= before + 20 && c.got.at(-1) === 'r100', 20_000)
  t.ok(c.gaps.length === 1 && c.gaps[0].to !== null, `told exactly which never arrive: ${JSON.stringify(c.gaps)}`)
  const received = c.got.length - before
  const gap = c.gaps[0]
  t.equal(received + (gap.to as number) - gap.from + 1, 100, 'what arrived plus the announced gap is the whole stream: nothing silently missing')
})
