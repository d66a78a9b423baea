import t from 'tap'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { withDelivery, memoryDedupe, redisDedupe } from '../index.js'
import { deliveryIdle } from '../lib/delivery/index.js'
import { ReadinessClient, type WebSocketConstructor } from '../lib/client/index.js'
import { ackFrame, messageFrame } from '../lib/client/frames.js'
import { buildApp } from './helpers/app.js'
import { connect, listen, sleep, until } from './helpers/net.js'
import { redisServer } from './helpers/servers.js'

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
    app.get('/chat', { websocket: true }, (socket) => { withDelivery(socket, (text) => { handled.push(String(text)) }, { store }) })
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

t.test('redisDedupe claims on the real Redis: atomic, released by the save of its owner only, expiring when the owner dies', async (t) => {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  await redis.connect()
  t.teardown(() => redis.quit())
  const prefix = `fastify-readiness:test:claims:${process.pid}:${Date.now()}:`
  const store = redisDedupe(redis, { prefix, claimTtlMs: 300 })
  const claim = store.claim as NonNullable<typeof store.claim>
  t.equal(store.claimTtlMs, 300)
  const racing = await Promise.all(['a', 'b', 'c', 'd'].map((owner) => claim('sessionDDDD', 1, owner)))
  t.same(racing.filter((r) => r === 'claimed').length, 1, `one claim wins a race (${racing.join(', ')})`)
  const winner = ['a', 'b', 'c', 'd'][racing.indexOf('claimed')]
  t.equal(await claim('sessionDDDD', 1, winner), 'claimed', 'the owner renews its claim')
  const claimTtl = await redis.pttl(`${prefix}sessionDDDD!claim`)
  t.ok(claimTtl > 0 && claimTtl <= 300, `the claim expires (${claimTtl} ms)`)
  await store.save('sessionDDDD', 1, 'not-the-owner')
  t.equal(await claim('sessionDDDD', 2, 'z'), 'busy', 'another owner\'s save does not drop the claim')
  await store.save('sessionDDDD', 1, winner)
  t.equal(await claim('sessionDDDD', 1, 'z'), 'handled', 'after the owner\'s save: handled')
  t.equal(await claim('sessionDDDD', 2, 'z'), 'claimed', 'the claim went with the save')
  // z "dies" holding the claim on 2: nobody else may run 2 until it expires, then someone may (a re-send, not a loss).
  t.equal(await claim('sessionDDDD', 2, 'y'), 'busy')
  await new Promise((resolve) => setTimeout(resolve, 350))
  t.equal(await claim('sessionDDDD', 2, 'y'), 'claimed', 'taken over after the TTL')
  t.throws(() => redisDedupe(redis, { claimTtlMs: 10 }), /claimTtlMs/)
})

t.test('two instances on the real Redis: a handler longer than claimTtlMs keeps its claim (renewed), and one that throws lets the session go on', async (t) => {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  await redis.connect()
  t.teardown(() => redis.quit())
  const prefix = `fastify-readiness:test:renew:${process.pid}:${Date.now()}:`
  const handled: string[] = []
  const errors: string[] = []
  const serve = async (name: string) => {
    const app = await buildApp(t, {})
    app.get('/chat', { websocket: true }, (socket) => {
      withDelivery(socket, async (text) => {
        if (text === 'boom') throw new Error('rejected by the app')
        await new Promise((resolve) => setTimeout(resolve, 700))
        handled.push(`${name} ${text}`)
      }, { store: redisDedupe(redis, { prefix, claimTtlMs: 150 }), onError: (err) => errors.push(String(err)) })
    })
    const { ws } = await listen(app)
    await until(() => app.readiness.isReady())
    return ws
  }
  const [a, b] = [await serve('a'), await serve('b')]
  const open = async (base: string) => {
    const ws = new WebSocket(`${base}/chat`)
    const acks: string[] = []
    ws.on('message', (d) => acks.push(d.toString()))
    await new Promise((resolve) => ws.once('open', resolve))
    t.teardown(() => ws.terminate())
    return { ws, acks }
  }
  const [sa, sb] = [await open(a), await open(b)]
  sa.ws.send(messageFrame('sessionEEEE', 1, 'slow'))
  await new Promise((resolve) => setTimeout(resolve, 400)) // past the claim TTL: only renewal keeps it
  sb.ws.send(messageFrame('sessionEEEE', 1, 'slow'))
  await until(() => sa.acks.length === 1 && sb.acks.length === 1, 5000)
  t.same(handled, ['a slow'], 'B waited for A (whose claim was renewed) and acked without running it')
  sb.ws.send(messageFrame('sessionEEEE', 2, 'boom'))
  sb.ws.send(messageFrame('sessionEEEE', 3, 'after'))
  await until(() => sb.acks.length === 3, 5000)
  t.same(sb.acks.slice(1), [ackFrame('sessionEEEE', 2), ackFrame('sessionEEEE', 3)], 'a throwing handler counts as handled: acked, and the session goes on')
  t.same(handled, ['a slow', 'b after'])
  t.same(errors, ['Error: rejected by the app'], 'the throw reported, no lost claim')
  t.equal(await redis.exists(`${prefix}sessionEEEE!claim`), 0, 'no claim left behind')
})

t.test('a hostile client: a flood beyond maxQueued is closed 1013 (backpressure), and a scope keeps guessed session ids apart', async (t) => {
  const app = await buildApp(t, {})
  const store = memoryDedupe()
  const handled: string[] = []
  app.get('/slow', { websocket: true }, (socket) => {
    withDelivery(socket, () => new Promise((resolve) => setTimeout(resolve, 50)), { maxQueued: 5 })
  })
  app.get('/scoped/:user', { websocket: true }, (socket, request) => {
    withDelivery(socket, (text) => { handled.push(String(text)) }, { store, scope: (request.params as { user: string }).user })
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

t.test('a window that cannot be read (a private Redis, killed): nothing is handled, the socket closes 1013, the client re-sends once it is back', async (t) => {
  const server = await redisServer(t)
  await server.start()
  const redis = new Redis({ host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 100 })
  redis.on('error', () => {})
  t.teardown(() => redis.disconnect())
  await until(() => redis.status === 'ready')
  const store = redisDedupe(redis, { prefix: 'down-test:' })
  const handled: string[] = []
  const errors: string[] = []
  const app = await buildApp(t, {})
  app.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, (text) => { handled.push(String(text)) }, { store, onError: (err) => errors.push(String(err)) })
  })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WebSocket as unknown as WebSocketConstructor, delivery: true, backoff: { initialMs: 50, hintFloorMs: 100, hintCeilingMs: 300 } })
  t.teardown(() => client.close())
  const closes: string[] = []
  client.on('close', (c) => closes.push(`${c.code} ${c.reason}`))
  await new Promise<void>((resolve) => client.on('open', () => resolve()))
  client.send('m1')
  await until(() => client.buffered === 0)
  await server.kill()
  client.send('m2')
  await until(() => closes.some((c) => c.startsWith('1013 delivery store unavailable')), 5000)
  t.same(handled, ['m1'], 'm2 was not handled without its window')
  t.equal(client.buffered, 1, 'and not acked: the client keeps it')
  await server.start()
  await until(() => client.buffered === 0, 10_000)
  await sleep(100)
  t.same(handled, ['m1', 'm2'], 'm2 handled once the window is back, once')
  t.ok(errors.length >= 1, `the store errors were reported (${errors[0]})`)
})

t.test('idle(): resolves once the handlers using a store finished (before an app closes the store\'s connection), false on timeout', async (t) => {
  const store = memoryDedupe()
  const app = await buildApp(t, {})
  let finished = 0
  app.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, async () => { await sleep(300); finished++ }, { store })
  })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  t.equal(await store.idle?.(), true, 'idle at first')
  const outcome = await connect(`${ws}/chat`)
  if (outcome.kind !== 'open') throw new Error('not open')
  outcome.ws.send(messageFrame('sessionIDLE', 1, 'slow'))
  await sleep(50)
  outcome.ws.terminate() // the socket goes; its handler carries on
  t.equal(await store.idle?.(50), false, 'a handler still in progress: not idle within 50 ms')
  t.equal(await deliveryIdle(store), true, 'deliveryIdle(store) resolves after it')
  t.equal(finished, 1, 'the handler finished first')
})
