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
