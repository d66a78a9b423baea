import t from 'tap'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { withDelivery, memoryDedupe, redisDedupe } from '../index.js'
import { ackFrame, messageFrame } from '../lib/client/frames.js'
import { buildApp } from './helpers/app.js'
import { connect, listen, until } from './helpers/net.js'

t.test('the helper hands numbered messages to the handler in order, acks each after the handler, drops duplicates, passes other frames', async (t) => {
  const app = await buildApp(t, {})
  const log: string[] = []
  let finished = 0
  app.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, async (text, ctx) => {
      log.push(`start ${text} ${ctx === null ? '-' : ctx.seq}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
      finished++
    })
  })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const outcome = await connect(`${ws}/chat`)
  if (outcome.kind !== 'open') throw new Error('not open')
  const acks: Array<{ frame: string, finished: number }> = []
  outcome.ws.on('message', (d) => acks.push({ frame: d.toString(), finished }))
  const session = 'sessionAAAA'
  for (const seq of [1, 2, 2, 3, 1]) outcome.ws.send(messageFrame(session, seq, `m${seq}`))
  outcome.ws.send('plain text')
  await until(() => log.length === 4 && acks.length === 5)
  t.same(log, ['start m1 1', 'start m2 2', 'start m3 3', 'start plain text -'], 'in order, each once, the plain frame passed through')
  t.same(acks.map((a) => a.frame), [1, 2, 2, 3, 1].map((seq) => ackFrame(session, seq)), 'every numbered frame acked, duplicates too')
  t.ok(acks[0].finished >= 1 && acks[1].finished >= 2, 'each ack came after its handler finished')
  outcome.ws.close()
})

t.test('memoryDedupe: raise-only marks, TTL, a bound on sessions', async (t) => {
  const store = memoryDedupe({ ttlMs: 50, maxSessions: 2 })
  store.save('s1', 5)
  store.save('s1', 3)
  t.equal(store.load('s1'), 5, 'never lowered')
  store.save('s2', 1)
  store.save('s3', 1)
  t.equal(store.load('s1'), 0, 'the least recently used session was evicted')
  await new Promise((resolve) => setTimeout(resolve, 80))
  t.equal(store.load('s3'), 0, 'forgotten after the TTL')
  t.throws(() => memoryDedupe({ ttlMs: 0 }), /memoryDedupe\.ttlMs/)
})

t.test('redisDedupe on the real Redis: prefixed keys with a TTL, raise-only, shared by two helpers', async (t) => {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  await redis.connect() // the shared Redis of the test environment (a private key prefix; nothing is flushed)
  t.teardown(() => redis.quit())
  const prefix = `fastify-readiness:test:dedupe:${process.pid}:${Date.now()}:`
  const store = redisDedupe(redis, { prefix, ttlMs: 60_000 })
  t.equal(await store.load('sessionBBBB'), 0)
  await store.save('sessionBBBB', 7)
  await store.save('sessionBBBB', 4)
  t.equal(await store.load('sessionBBBB'), 7, 'never lowered')
  const ttl = await redis.pttl(`${prefix}sessionBBBB`)
  t.ok(ttl > 0 && ttl <= 60_000, `the key expires (${ttl} ms)`)
  t.throws(() => redisDedupe({} as never), /ioredis/)

  // Two "instances" (apps) sharing the store: a session that moves is not double-delivered.
  const handled: string[] = []
  const serve = async () => {
    const app = await buildApp(t, {})
    app.get('/chat', { websocket: true }, (socket) => { withDelivery(socket, (text) => { handled.push(text) }, { store }) })
    const { ws } = await listen(app)
    await until(() => app.readiness.isReady())
    return ws
  }
  const [a, b] = [await serve(), await serve()]
  const send = async (base: string, seqs: number[]) => {
    const ws = new WebSocket(`${base}/chat`)
    await new Promise((resolve) => ws.once('open', resolve))
    const acked: string[] = []
    ws.on('message', (d) => acked.push(d.toString()))
    for (const seq of seqs) ws.send(messageFrame('sessionCCCC', seq, `m${seq}`))
    await until(() => acked.length === seqs.length)
    ws.close()
  }
  await send(a, [1, 2, 3])
  await send(b, [2, 3, 4]) // the client re-sends what it never saw acked, on another instance
  t.same(handled, ['m1', 'm2', 'm3', 'm4'])
})

t.test('a hostile client: a flood beyond maxQueued is closed 1013 (backpressure), and a scope keeps guessed session ids apart', async (t) => {
  const app = await buildApp(t, {})
  const store = memoryDedupe()
  const handled: string[] = []
  app.get('/slow', { websocket: true }, (socket) => {
    withDelivery(socket, () => new Promise((resolve) => setTimeout(resolve, 50)), { maxQueued: 5 })
  })
  app.get('/scoped/:user', { websocket: true }, (socket, request) => {
    withDelivery(socket, (text) => { handled.push(text) }, { store, scope: (request.params as { user: string }).user })
  })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const flood = await connect(`${ws}/slow`)
  if (flood.kind !== 'open') throw new Error('not open')
  const closedWith = new Promise<{ code: number, reason: string }>((resolve) => flood.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  for (let seq = 1; seq <= 50; seq++) flood.ws.send(messageFrame('floodFLOOD', seq, 'x'))
  t.match(await closedWith, { code: 1013, reason: /^delivery queue full/ })

  const send = async (user: string, text: string) => {
    const outcome = await connect(`${ws}/scoped/${user}`)
    if (outcome.kind !== 'open') throw new Error('not open')
    const acked = new Promise((resolve) => outcome.ws.once('message', resolve))
    outcome.ws.send(messageFrame('sameSESSION', 1, text))
    await acked
    outcome.ws.close()
  }
  await send('alice', 'from alice')
  await send('mallory', 'from mallory, same session id')
  t.same(handled, ['from alice', 'from mallory, same session id'], 'the attacker\'s session 1 did not swallow alice\'s, nor the reverse')
})
