import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { withDelivery, memoryDedupe, redisDedupe, type DedupeStore } from '../../index.js'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { buildApp } from '../helpers/app.js'
import { listen, until } from '../helpers/net.js'

/**
 * Issue 26 (delivery): "two tabs with one session id": tab A 40 handled, tab B 0 of 40, all acked. Each
 * tab is now its own incarnation with its own window, so both are handled (the default). With
 * `exclusive: true` only one live incarnation per id is allowed: the second is told (close 4409 with a
 * reason, the client's `error` event), nothing of it is acked, and it gets in once the first leaves.
 * Memory store on one instance; the Redis store with two instances (the lease is fleet-wide).
 */

const WS = WebSocket as unknown as WebSocketConstructor

async function instance (t: Test, store: DedupeStore, exclusive: boolean, handled: string[]): Promise<string> {
  const app = await buildApp(t, {})
  app.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, async (text, ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 1))
      if (ctx !== null) handled.push(String(text))
    }, { store, exclusive })
  })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  return `${ws}/chat`
}

async function redisStore (t: Test): Promise<() => DedupeStore> {
  const prefix = `fastify-readiness:test:tabs:${process.pid}:${Date.now()}:`
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  await redis.connect() // the shared Redis: a private prefix, this run's keys deleted at the end
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  return () => redisDedupe(redis, { prefix, claimTtlMs: 600 })
}

function tab (t: Test, url: string, name: string): { client: ReadinessClient, acked: () => number, errors: Error[], closes: string[] } {
  const client = new ReadinessClient(url, { WebSocket: WS, delivery: { sessionId: 'sharedByTwoTabs' }, backoff: { initialMs: 50, maxMs: 200, hintFloorMs: 0, hintCeilingMs: 300 } })
  t.teardown(() => client.close())
  let acked = 0
  const errors: Error[] = []
  const closes: string[] = []
  client.on('acked', (seq) => { acked = seq })
  client.on('error', (err) => errors.push(err))
  client.on('close', (c) => closes.push(`${c.code} ${c.reason}`))
  for (let i = 1; i <= 40; i++) client.send(`${name}-${i}`)
  return { client, acked: () => acked, errors, closes }
}

for (const kind of ['memory', 'redis'] as const) {
  t.test(`${kind} store, default: two live tabs with one sessionId are both handled`, async (t) => {
    const handled: string[] = []
    const make = kind === 'memory' ? (() => { const s = memoryDedupe(); return () => s })() : await redisStore(t)
    const urlA = await instance(t, make(), false, handled)
    const urlB = kind === 'memory' ? urlA : await instance(t, make(), false, handled)
    const a = tab(t, urlA, 'A')
    const b = tab(t, urlB, 'B')
    await until(() => a.acked() === 40 && b.acked() === 40, 10_000)
    t.equal(handled.filter((h) => h.startsWith('A-')).length, 40, 'tab A: 40 handled')
    t.equal(handled.filter((h) => h.startsWith('B-')).length, 40, 'tab B: 40 handled (was 0 of 40, all acked)')
    t.equal(new Set(handled).size, 80, 'each once')
  })

  t.test(`${kind} store, exclusive: the second live tab is refused with 4409 and an error event, never acked`, async (t) => {
    const handled: string[] = []
    const make = kind === 'memory' ? (() => { const s = memoryDedupe(); return () => s })() : await redisStore(t)
    const urlA = await instance(t, make(), true, handled)
    const urlB = kind === 'memory' ? urlA : await instance(t, make(), true, handled)
    const a = tab(t, urlA, 'A')
    await until(() => a.acked() === 40, 10_000)
    const b = tab(t, urlB, 'B')
    await until(() => b.errors.length >= 2, 10_000) // refused, retried, refused again: told every time
    t.match(b.closes[0], /^4409 delivery session in use; retry in 5s$/, 'closed 4409 with a reason')
    t.equal((b.errors[0] as Error & { code: string }).code, 'FST_READINESS_DELIVERY_SESSION_IN_USE', 'the client error event names it')
    t.equal(b.acked(), 0, 'nothing of tab B acked')
    t.equal(b.client.buffered, 40, 'tab B still holds its 40')
    t.equal(handled.filter((h) => h.startsWith('B-')).length, 0, 'nothing of tab B handled')
    a.client.close() // tab A goes away: its lease goes with it
    await until(() => b.acked() === 40, 15_000)
    t.equal(handled.filter((h) => h.startsWith('B-')).length, 40, 'then tab B gets in: 40 handled')
    t.equal(new Set(handled).size, 80, 'each once')
  })
}
