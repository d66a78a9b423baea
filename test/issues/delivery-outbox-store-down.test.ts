import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { Redis } from 'ioredis'
import { withDelivery, memoryDedupe } from '../../index.js'
import { redisOutbox, type DeliveryOutbox } from '../../lib/delivery/index.js'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { buildApp } from '../helpers/app.js'
import { listen, sleep, tcpProxy, until } from '../helpers/net.js'
import { missing } from '../helpers/processes.js'
import { freePort, redisServer } from '../helpers/servers.js'

/**
 * Found in test/e2e-delivery-both-ways.test.ts (1 run in 3): across the Redis restart, 4 messages lost all 5 of
 * their replies. The instances' Redis client gave up on commands queued while it reconnected (ioredis
 * `maxRetriesPerRequest`), so `redisOutbox.append` rejected; the helper reported it and dropped the reply, and
 * numbering went on without it: a silent gap. The message itself had been acked, so nothing was re-sent. Now a
 * refused send is kept in order and asked again until the outbox takes it (60 s), later sends queue behind it,
 * and the message's window write and ack wait until its replies are numbered. A Redis restarted empty starts the
 * counter at 0 again: numbering continues above what the socket sent, so the client does not drop them as repeats.
 * Here the shared Redis is never touched: a private redis-server on a free port, restarted empty mid-stream.
 */

const WS = WebSocket as unknown as WebSocketConstructor
const REPLIES = 60

async function streamingApp (t: Test, redisPort: number, errors: string[]): Promise<{ port: number }> {
  // One retry: a command queued while Redis is down is refused within ~100 ms, as ioredis does after its retries.
  const client = new Redis({ host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: 1, retryStrategy: () => 50 })
  client.on('error', () => {}) // while it is down
  t.teardown(() => client.disconnect())
  const outbox = redisOutbox(client, { prefix: `store-down:${process.pid}:` })
  const store = memoryDedupe() // the window stays up: only the outbox meets the outage
  const app = await buildApp(t, {})
  app.get('/chat', { websocket: true }, (socket) => {
    const session = withDelivery(socket, async (text) => {
      if (text !== 'stream') return
      for (let k = 1; k <= REPLIES; k++) {
        session.send(`r${k}`)
        await sleep(25)
      }
    }, { store, outbox, onError: (err) => errors.push(String(err)) })
  })
  const { port } = await listen(app)
  await until(() => app.readiness.isReady(), 10_000)
  return { port }
}

t.test('redisOutbox, Redis restarted empty mid-stream: every reply once, in order, on the same socket; the refusal reported', { skip: missing('redis-server'), timeout: 60_000 }, async (t) => {
  const redis = await redisServer(t)
  await redis.start()
  const errors: string[] = []
  const { port } = await streamingApp(t, redis.port, errors)
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WS, delivery: true, backoff: { initialMs: 50, maxMs: 200 } })
  t.teardown(() => client.close())
  const got: string[] = []
  const gaps: unknown[] = []
  client.on('message', (m) => got.push(String(m)))
  client.on('resumeFailed', (g) => gaps.push(g))
  await until(() => client.state === 'open', 10_000)
  client.send('stream')
  await until(() => got.length >= 10, 10_000)
  await redis.kill('SIGKILL')
  await until(() => errors.length > 0, 10_000) // a send refused while it is down
  await sleep(300)
  await redis.start() // empty: the outbox's counter starts again from 0
  await until(() => got.length >= REPLIES, 20_000).catch(() => {})
  await sleep(200) // a repeat would show up here
  t.same(got, Array.from({ length: REPLIES }, (_, i) => `r${i + 1}`), 'all replies once, in order')
  t.same(gaps, [], 'no resumeFailed: nothing was missing')
  t.ok(errors.some((e) => /MaxRetriesPerRequest|Connection|ECONNREFUSED|closed/i.test(e)), `the refusal was reported (${errors[0]})`)
})

t.test('redisOutbox, the client reconnects while Redis is unreachable: its hello cannot be answered (1013), then the replies sent meanwhile are replayed once, in order', { skip: missing('redis-server'), timeout: 60_000 }, async (t) => {
  const redis = await redisServer(t)
  await redis.start()
  // Unreachable, not restarted: the app reaches Redis through a proxy that can point at a port nobody listens on.
  const nowhere = await freePort()
  let up = true
  const link = await tcpProxy(t, () => up ? redis.port : nowhere)
  const errors: string[] = []
  const { port } = await streamingApp(t, link.port, errors)
  const proxy = await tcpProxy(t, () => port)
  const client = new ReadinessClient(`ws://127.0.0.1:${proxy.port}/chat`, { WebSocket: WS, delivery: true, backoff: { initialMs: 50, maxMs: 200 } })
  t.teardown(() => client.close())
  const got: string[] = []
  const gaps: unknown[] = []
  const closes: string[] = []
  client.on('message', (m) => got.push(String(m)))
  client.on('resumeFailed', (g) => gaps.push(g))
  client.on('close', ({ code, reason }) => closes.push(`${code} ${reason}`))
  await until(() => client.state === 'open', 10_000)
  client.send('stream')
  await until(() => got.length >= 10, 10_000)
  up = false
  link.cut()
  proxy.cut() // the socket goes with it: the handler keeps sending into the outbox, which refuses
  await until(() => closes.some((c) => c.startsWith('1013 delivery store unavailable')), 10_000).catch(() => {})
  t.ok(closes.some((c) => c.startsWith('1013 delivery store unavailable')), 'a hello the outbox could not answer closed 1013')
  up = true
  await until(() => got.length >= REPLIES, 20_000).catch(() => {})
  await sleep(200)
  t.same(got, Array.from({ length: REPLIES }, (_, i) => `r${i + 1}`), 'all replies once, in order')
  t.same(gaps, [], 'no resumeFailed: what the client lacked was in the outbox again')
})

t.test('an outbox whose append never answers delays a message\'s ack by at most handlerTimeoutMs: the next message is still handled', async (t) => {
  const app = await buildApp(t, {})
  const handled: string[] = []
  const errors: string[] = []
  const stuck: DeliveryOutbox = { append: () => new Promise<number>(() => {}), resume: () => ({ entries: [], gap: null }), ack: () => {} }
  app.get('/chat', { websocket: true }, (socket) => {
    const session = withDelivery(socket, (text) => {
      handled.push(String(text))
      session.send(`re ${String(text)}`)
    }, { store: memoryDedupe(), outbox: stuck, handlerTimeoutMs: 300, onError: (err) => errors.push(String(err)) })
  })
  const { port } = await listen(app)
  await until(() => app.readiness.isReady(), 10_000)
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WS, delivery: true })
  t.teardown(() => client.close())
  await until(() => client.state === 'open', 10_000)
  client.send('one')
  client.send('two')
  await until(() => handled.length === 2 && client.buffered === 0, 10_000).catch(() => {})
  t.same(handled, ['one', 'two'], 'both handled, in order, once')
  t.equal(client.buffered, 0, 'both acknowledged')
})
