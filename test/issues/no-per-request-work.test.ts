import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness from '../../index.js'

/**
 * Issue 24: the suite ran work on every request of routes that are none of its business. The shutdown
 * plugin counted each one (a server `request` listener and an app-wide onRequest hook, a WeakSet, a Map of
 * Sets and two `once` listeners per request): 15% of plain Fastify's CPU per request on a plain GET. Now
 * an ordinary route carries none of the suite's hooks and the server none of its request listeners.
 */
function hooksOf (printed: string, route: string): string[] {
  // printRoutes({ includeHooks: true }) lists each route, then its hooks as "• (hook) [names]".
  const lines = printed.split('\n')
  const at = lines.findIndex((l) => l.includes(`${route} (GET`))
  const hooks: string[] = []
  for (const line of lines.slice(at + 1)) {
    const m = /• \((\w+)\) \[(.*)\]/.exec(line)
    if (m === null) break
    hooks.push(`${m[1]}: ${m[2]}`)
  }
  return hooks
}

t.test('the whole suite with its defaults: a plain route has no hook of the suite, the server no extra request listener', async (t) => {
  const plain = Fastify()
  plain.get('/hello', async () => ({ hello: 'world' }))
  await plain.ready()
  const app = Fastify()
  await app.register(readiness, { shutdown: { signals: false } })
  app.get('/hello', async () => ({ hello: 'world' }))
  await app.ready()
  t.teardown(async () => { await app.close(); await plain.close() })
  t.same(hooksOf(app.printRoutes({ includeHooks: true, commonPrefix: false }), '/hello'), [], 'GET /hello runs no hook')
  t.equal(app.server.listenerCount('request'), plain.server.listenerCount('request'), 'the server has Fastify\'s request listener only')
  t.equal((await app.inject('/hello')).statusCode, 200)
})

t.test('with @fastify/websocket: the shutdown plugin adds nothing per request', async (t) => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(readiness, { shutdown: { signals: false } })
  app.get('/hello', async () => ({ hello: 'world' }))
  await app.ready()
  t.teardown(async () => { await app.close() })
  const hooks = hooksOf(app.printRoutes({ includeHooks: true, commonPrefix: false }), '/hello')
  t.notOk(hooks.some((h) => /countInFlight|shutdown/i.test(h)), `no shutdown hook on GET /hello (${JSON.stringify(hooks)})`)
})

// The gate told upgrades on plain GET routes from ones on WebSocket routes it never saw with a route hook on
// every plain GET, which put each ordinary request through Fastify's hook runner. With @fastify/websocket
// registered first (its handler wrapper is in place when the gate sees the route), the gate wraps the
// handler instead: no hook, and an upgrade on the route is still known for what it is.
t.test('with @fastify/websocket first: a plain GET has no hook of the suite, and an upgrade on it is not taken for an ungated WebSocket route', async (t) => {
  const { default: WebSocket } = await import('ws')
  const lines: Array<{ msg: string }> = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } })
  await app.register(websocket)
  let up = false
  await app.register(readiness, { probes: { dep: async () => { if (!up) throw new Error('down') } }, websocket: { mode: 'reject' }, shutdown: { signals: false } })
  app.get('/hello', async () => ({ hello: 'world' }))
  app.get('/scrape', { readiness: false }, async () => 'ok')
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close() })
  // @fastify/websocket's own app-wide hooks (it marks request.ws) are there with or without the suite.
  const bare = Fastify()
  await bare.register(websocket)
  bare.get('/hello', async () => ({ hello: 'world' }))
  await bare.ready()
  t.teardown(async () => { await bare.close() })
  const own = hooksOf(bare.printRoutes({ includeHooks: true, commonPrefix: false }), '/hello')
  const printed = app.printRoutes({ includeHooks: true, commonPrefix: false })
  t.same(hooksOf(printed, '/hello'), own, `GET /hello runs @fastify/websocket's hooks only (${JSON.stringify(own)})`)
  t.same(hooksOf(printed, '/scrape'), own, 'GET /scrape (readiness: false) too')
  const { port } = app.server.address() as { port: number }
  const upgrade = async (path: string): Promise<string> => await new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`)
    ws.once('unexpected-response', (_req, res) => { resolve(`http ${res.statusCode}`); ws.terminate() })
    ws.once('close', (code) => resolve(`close ${code}`))
    ws.once('error', () => {})
  })
  // Not ready: an upgrade on a WebSocket route the gate never saw would be refused (503); on a plain route,
  // @fastify/websocket completes it and closes it, as it does without the suite.
  for (const path of ['/hello', '/scrape']) t.notSame(await upgrade(path), 'http 503', `${path}: not refused as an ungated WebSocket route`)
  up = true
  await app.readiness.waitFor(undefined, { timeoutMs: 10_000 })
  for (const path of ['/hello', '/scrape']) await upgrade(path)
  t.same(lines.filter((l) => /is not gated/.test(l.msg)), [], 'no false report')
  t.equal((await fetch(`http://127.0.0.1:${port}/hello`)).status, 200, 'the route still answers')
})
