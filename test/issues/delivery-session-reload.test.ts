import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { withDelivery, memoryDedupe, redisDedupe, type DedupeStore } from '../../index.js'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { buildApp } from '../helpers/app.js'
import { listen, until } from '../helpers/net.js'

/**
 * Issue 26 (delivery): "a reused session id loses everything, silently". A page kept its
 * `delivery: { sessionId }` across a reload; page 2 numbers from 1 again, and the window (one mark per
 * session) took all 30 of its messages for page 1's duplicates: 0 handled, all 30 acked, no `dropped`.
 * Now every client object is its own incarnation (its hello frame), and the window is per session and
 * incarnation: page 2's messages are handled, whatever the store.
 */

const WS = WebSocket as unknown as WebSocketConstructor

async function server (t: Test, store: DedupeStore): Promise<{ url: string, handled: string[] }> {
  const handled: string[] = []
  const app = await buildApp(t, {})
  app.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, async (text, ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 1))
      if (ctx !== null) handled.push(`${ctx.session} ${ctx.incarnation} ${ctx.seq} ${String(text)}`)
    }, { store })
  })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  return { url: `${ws}/chat`, handled }
}

/** One page load: a client with the kept id sends `count` messages, waits for every ack, and goes away. */
async function page (url: string, sessionId: string, name: string, count: number): Promise<{ acked: number, dropped: number, incarnation: string }> {
  const client = new ReadinessClient(url, { WebSocket: WS, delivery: { sessionId } })
  let acked = 0
  let dropped = 0
  client.on('acked', (seq) => { acked = seq })
  client.on('dropped', () => { dropped++ })
  for (let i = 1; i <= count; i++) client.send(`${name}-${i}`)
  await until(() => acked === count, 10_000)
  const incarnation = String(client.incarnation)
  client.close()
  return { acked, dropped, incarnation }
}

for (const kind of ['memory', 'redis'] as const) {
  t.test(`${kind} store: a reload with the same sessionId has its messages handled, not taken for duplicates`, async (t) => {
    let store: DedupeStore
    const prefix = `fastify-readiness:test:reload:${process.pid}:${Date.now()}:`
    if (kind === 'memory') {
      store = memoryDedupe()
    } else {
      const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
      await redis.connect() // the shared Redis: a private prefix, this run's keys deleted at the end
      t.teardown(async () => {
        const keys = await redis.keys(`${prefix}*`)
        if (keys.length > 0) await redis.del(...keys)
        await redis.quit()
      })
      store = redisDedupe(redis, { prefix })
    }
    const { url, handled } = await server(t, store)
    const sessionId = 'keptAcrossReload'
    const one = await page(url, sessionId, 'p1', 50)
    const two = await page(url, sessionId, 'p2', 30)
    t.not(one.incarnation, two.incarnation, 'each page load is its own incarnation')
    t.equal(one.dropped + two.dropped, 0, 'nothing dropped')
    const p1 = handled.filter((h) => h.includes(' p1-'))
    const p2 = handled.filter((h) => h.includes(' p2-'))
    t.equal(p1.length, 50, 'page 1: 50 handled')
    t.equal(p2.length, 30, 'page 2: 30 handled (was 0, all acked)')
    t.same(p2.map((h) => h.split(' ').slice(1).join(' ')), Array.from({ length: 30 }, (_, i) => `${two.incarnation} ${i + 1} p2-${i + 1}`), 'in order, under page 2\'s incarnation')
    t.equal(new Set(handled).size, handled.length, 'each message once')
  })
}
