import t, { type Test } from 'tap'
import WebSocket from 'ws'
import type { FastifyInstance } from 'fastify'
import { ReadinessClient, type WebSocketConstructor } from '../lib/client/index.js'
import { buildApp, Switch } from './helpers/app.js'
import { sleep, until } from './helpers/net.js'
import { freePort } from './helpers/servers.js'

/** A chat-like server whose store warms up for `warmupMs`; records what it received, per server. */
async function chatServer (t: Test, port: number, warmupMs: number, mode: 'reject' | 'hold' | 'accept-then-close' = 'reject') {
  const received: string[] = []
  const app = await buildApp(t, {
    phases: { store: () => sleep(warmupMs) },
    websocket: { mode, holdTimeoutMs: mode === 'hold' ? 5000 : undefined },
    health: { cors: true }
  })
  app.get('/chat', { websocket: true }, (socket) => {
    socket.on('message', (data) => { received.push(data.toString()); socket.send(`ack ${data.toString()}`) })
  })
  await app.listen({ port, host: '127.0.0.1' })
  return { app, received }
}

function events (client: ReadinessClient): string[] {
  const log: string[] = []
  client.on('refused', (r) => log.push(`refused ${r.status} retry-after=${r.retryAfter}`))
  client.on('close', (c) => log.push(`close ${c.code} retry=${c.willRetry}`))
  client.on('retry', (r) => log.push(`retry ${r.source}`))
  client.on('open', () => log.push('open'))
  client.on('giveup', () => log.push('giveup'))
  return log
}

t.test('across a cold start: refused with 503 + Retry-After, retries as told, and delivers what was sent meanwhile in order, once', async (t) => {
  const port = await freePort()
  const server = await chatServer(t, port, 800)
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WebSocket as unknown as WebSocketConstructor })
  t.teardown(() => client.close())
  const log = events(client)
  for (const m of ['m1', 'm2', 'm3']) t.equal(client.send(m), true, `${m} accepted while connecting`)
  await until(() => server.received.length === 3, 10_000)
  t.same(server.received, ['m1', 'm2', 'm3'])
  t.match(log, ['refused 503 retry-after=1', 'close 1006 retry=true', 'retry retry-after'])
  t.equal(log.filter((l) => l === 'open').length, 1)
  await sleep(100)
  t.same(server.received, ['m1', 'm2', 'm3'], 'nothing delivered twice')
})

t.test('across a restart: 1012, reconnect to the new instance, the messages typed meanwhile all arrive, in order, once', async (t) => {
  const port = await freePort()
  const first = await chatServer(t, port, 0)
  await until(() => first.app.readiness.isReady())
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WebSocket as unknown as WebSocketConstructor, backoff: { initialMs: 50 } })
  t.teardown(() => client.close())
  const log = events(client)
  await until(() => client.state === 'open')
  client.send('before')
  await until(() => first.received.length === 1)

  await first.app.close()
  await until(() => client.state !== 'open')
  const typed = Array.from({ length: 20 }, (_, i) => `during ${i}`)
  for (const m of typed) client.send(m)
  await sleep(300)
  const second = await chatServer(t, port, 400) // a cold start of its own
  await until(() => second.received.length === typed.length, 10_000)
  t.same(second.received, typed, 'in order')
  t.same(first.received, ['before'])
  t.ok(log.includes('close 1012 retry=true'), 'the restart was announced with 1012')
  await sleep(100)
  t.equal(second.received.length, typed.length, 'once')
})

t.test('final closes are final: 1000, 1008 and app codes marked final; other app codes reconnect', async (t) => {
  const port = await freePort()
  let next = 1000
  const app = await buildApp(t, {})
  app.get('/chat', { websocket: true }, (socket) => socket.close(next, 'bye'))
  await app.listen({ port, host: '127.0.0.1' })
  await until(() => app.readiness.isReady())
  for (const [code, final] of [[1000, true], [1008, true], [4001, true], [4002, false], [1013, false]] as const) {
    next = code
    const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WebSocket as unknown as WebSocketConstructor, finalCodes: [4001] })
    const log = events(client)
    await until(() => log.some((l) => l.startsWith('close')))
    t.equal(log.find((l) => l.startsWith('close')), `close ${code} retry=${!final}`, `${code}: ${final ? 'final' : 'reconnects'}`)
    client.close()
  }
})

t.test('a cap on attempts: gives up and says so', async (t) => {
  const port = await freePort()
  const never = new Switch(false)
  const app = await buildApp(t, { probes: { db: never.check }, websocket: { mode: 'reject' } })
  app.get('/chat', { websocket: true }, () => {})
  await app.listen({ port, host: '127.0.0.1' })
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WebSocket as unknown as WebSocketConstructor, maxAttempts: 2 })
  const log = events(client)
  const gaveUp = new Promise<{ attempts: number }>((resolve) => client.on('giveup', resolve))
  t.match(await gaveUp, { attempts: 2 })
  t.equal(client.state, 'closed')
  t.equal(log.filter((l) => l.startsWith('refused')).length, 2, 'two attempts: the first try and one retry')
})

t.test('the buffer is bounded and reports what it dropped', async (t) => {
  const port = await freePort()
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WebSocket as unknown as WebSocketConstructor, maxBuffered: 2, maxAttempts: 1 })
  const dropped: unknown[] = []
  client.on('dropped', (d) => dropped.push(d))
  t.equal(client.send('a'), true)
  t.equal(client.send('b'), true)
  t.equal(client.send('c'), false)
  t.same(dropped, ['c'])
  t.equal(client.buffered, 2)
  client.close()
})

/** The browser's view: only the WHATWG surface, so a refused upgrade is a bare 1006. */
class BrowserShaped {
  readonly #ws: WebSocket
  onopen: ((e: unknown) => void) | null = null
  onclose: ((e: { code: number, reason: string }) => void) | null = null
  onerror: ((e: unknown) => void) | null = null
  onmessage: ((e: { data: unknown }) => void) | null = null
  constructor (url: string) {
    this.#ws = new WebSocket(url)
    this.#ws.onopen = (e) => this.onopen?.(e)
    this.#ws.onclose = (e) => this.onclose?.({ code: e.code, reason: e.reason })
    this.#ws.onerror = (e) => this.onerror?.(e)
    this.#ws.onmessage = (e) => this.onmessage?.({ data: e.data })
  }

  get readyState (): number { return this.#ws.readyState }
  send (data: string): void { this.#ws.send(data) }
  close (code?: number, reason?: string): void { this.#ws.close(code, reason) }
}

t.test('where the 503 cannot be read (browsers), the client asks /health/websocket when to retry', async (t) => {
  const port = await freePort()
  const server = await chatServer(t, port, 1500)
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, {
    WebSocket: BrowserShaped as unknown as WebSocketConstructor,
    healthUrl: `http://127.0.0.1:${port}/health/websocket`
  })
  t.teardown(() => client.close())
  const log = events(client)
  client.send('hello')
  await until(() => server.received.length === 1, 10_000)
  t.notOk(log.some((l) => l.startsWith('refused')), 'the status was not visible')
  t.ok(log.includes('close 1006 retry=true'), 'a refused upgrade looked like 1006')
  t.ok(log.includes('retry health'), 'the delay came from the health route')
  t.ok(log.filter((l) => l.startsWith('close')).length <= 3, `few attempts: ${log.join(' | ')}`)
})

t.test('accept-then-close (1013 with a hint) is retried as the hint says', async (t) => {
  const port = await freePort()
  const server = await chatServer(t, port, 600, 'accept-then-close')
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: BrowserShaped as unknown as WebSocketConstructor })
  t.teardown(() => client.close())
  const log = events(client)
  client.send('hi')
  await until(() => server.received.length === 1, 10_000)
  t.match(log, ['open', 'close 1013 retry=true', 'retry retry-after'])
  void (server.app as FastifyInstance)
})

t.test('the health route answers cross-origin clients with CORS and the Retry-After exposed', async (t) => {
  const port = await freePort()
  await chatServer(t, port, 5000)
  const res = await fetch(`http://127.0.0.1:${port}/health/websocket`, { headers: { origin: 'https://chat.example.com' } })
  t.equal(res.status, 503)
  t.equal(res.headers.get('access-control-allow-origin'), '*')
  t.equal(res.headers.get('access-control-expose-headers'), 'Retry-After')
})
