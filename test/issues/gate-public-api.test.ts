import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { WebSocketServer } from 'ws'
import readiness from '../../index.js'
import { Switch } from '../helpers/app.js'
import { closed, connect, listen, rawUpgrade, sleep, until } from '../helpers/net.js'

/** Issue 12: the gate lives with other libraries through public APIs only. */

t.test('another library\'s upgrade listener survives the drain, and the suite removes its own', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness)
  await app.register(websocket)
  app.get('/ws', { websocket: true }, () => {})
  // A second WebSocket server on the same HTTP server, as a dev server's HMR would add.
  const other = new WebSocketServer({ noServer: true })
  const onUpgrade = (request: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void => {
    if (request.url === '/hmr') other.handleUpgrade(request, socket, head, (ws) => ws.send('hmr'))
  }
  app.server.on('upgrade', onUpgrade)
  let sawDuringClose = false
  app.addHook('preClose', (done) => { sawDuringClose = app.server.listeners('upgrade').includes(onUpgrade); done() })
  await listen(app)
  await until(() => app.readiness.isReady())
  await app.close()
  t.ok(sawDuringClose, 'the other listener was still there during close')
  t.ok(app.server.listeners('upgrade').includes(onUpgrade), 'and after it')
  t.equal(app.server.listeners('upgrade').length, 1, 'the suite\'s own listener is gone')
  other.close()
})

t.test('@fastify/websocket\'s preClose option stays in control when it is registered first', async (t) => {
  const app = Fastify()
  await app.register(websocket, {
    preClose: function (done) {
      for (const client of this.websocketServer.clients) { client.send('bye'); client.close(4001, 'custom') }
      done()
    }
  })
  await app.register(readiness)
  app.get('/ws', { websocket: true }, () => {})
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const o = await connect(`${ws}/ws`)
  if (o.kind !== 'open') { t.fail('should open'); return }
  const message = new Promise<string>((resolve) => o.ws.once('message', (d) => resolve(d.toString())))
  const end = closed(o.ws)
  await app.close()
  t.equal(await message, 'bye', 'the app\'s own preClose spoke to its clients')
  t.same(await end, { code: 4001, reason: 'custom' }, 'and chose the close code')
})

t.test('readiness: { gate: true } gates a plain HTTP route without @fastify/websocket', async (t) => {
  const db = new Switch(false)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { db: { check: db.check, startIntervalMs: 5 } }, websocket: { mode: 'reject' } })
  app.get('/api', { readiness: { gate: true } }, async () => ({ ok: true }))
  const { http } = await listen(app)
  const refused = await fetch(`${http}/api`)
  t.equal(refused.status, 503)
  t.match(refused.headers.get('retry-after'), /^\d+$/)
  db.up = true
  await until(() => app.readiness.isReady())
  t.equal((await fetch(`${http}/api`)).status, 200)
})

t.test('the app\'s own onRequest hooks (auth) run before the gate: the unauthenticated never take a hold slot', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode: 'hold', holdTimeoutMs: 5000 } })
  await app.register(websocket)
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization !== 'Bearer ok') await reply.code(401).send({ error: 'unauthorized' })
  })
  app.get('/ws', { websocket: true }, () => {})
  const { ws } = await listen(app)
  t.match(await connect(`${ws}/ws`), { kind: 'refused', status: 401 })
  const held = connect(`${ws}/ws`, { headers: { authorization: 'Bearer ok' }, handshakeTimeout: 8000 })
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 1)
  t.pass('the authenticated client is held')
  await sleep(10)
  t.equal(app.readiness.websocket?.getConnectionReadiness().held, 1, 'and only it')
  void app.close()
  t.match(await held, { kind: 'refused', status: 503 })
})

t.test('listen on localhost (IPv4 and IPv6 servers): both are gated and drained', async (t) => {
  const db = new Switch(false)
  const app = Fastify()
  await app.register(readiness, { probes: { db: { check: db.check, startIntervalMs: 5 } }, websocket: { mode: 'reject' } })
  await app.register(websocket)
  app.get('/ws', { websocket: true }, () => {})
  await app.listen({ port: 0, host: 'localhost' })
  const addresses = app.addresses().filter((a): a is import('node:net').AddressInfo => typeof a !== 'string')
  t.ok(addresses.length >= 1)
  for (const a of addresses) {
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address
    t.match(await connect(`ws://${host}:${a.port}/ws`), { kind: 'refused', status: 503 }, `refused on ${a.address}`)
  }
  db.up = true
  await until(() => app.readiness.isReady())
  const open = []
  for (const a of addresses) {
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address
    const o = await connect(`ws://${host}:${a.port}/ws`)
    t.equal(o.kind, 'open', `open on ${a.address}`)
    if (o.kind === 'open') open.push(closed(o.ws))
  }
  await app.close()
  for (const end of await Promise.all(open)) t.equal(end.code, 1012, 'drained with 1012')
})

// The close-time refuser went on app.server only: with @fastify/websocket's `options.server`, an upgrade
// arriving during the drain got Fastify's 503 and its socket stayed open.
t.test('with @fastify/websocket\'s options.server, an upgrade during the drain gets the suite\'s 503 and is closed', async (t) => {
  const { createServer } = await import('node:http')
  const custom = createServer((_req, res) => { res.end('custom') })
  const app = Fastify()
  await app.register(readiness, { websocket: { drainTimeoutMs: 2000 }, shutdown: { signals: false } })
  await app.register(websocket, { options: { server: custom } })
  app.get('/ws', { websocket: true }, () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  await new Promise<void>((resolve) => custom.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { custom.close() })
  const port = (custom.address() as import('node:net').AddressInfo).port
  await until(() => app.readiness.isReady())
  // A peer that never answers the close frame keeps the drain busy for its drainTimeout.
  const silent = await rawUpgrade(port, '/ws')
  await until(() => silent.received().startsWith('HTTP/1.1 101'))
  const closing = app.close()
  await sleep(100)
  const late = await rawUpgrade(port, '/ws')
  const ended = await Promise.race([late.ended.then(() => true), sleep(1500).then(() => false)])
  t.match(late.received(), /^HTTP\/1\.1 503 /, 'the suite\'s 503')
  t.match(late.received(), /"state":"draining"/, 'with its body')
  t.ok(ended, 'and the socket was closed, not left half-open')
  silent.socket.destroy()
  await closing
})
