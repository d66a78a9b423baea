import t from 'tap'
import { buildApp, Switch } from './helpers/app.js'
import { closed, connect, getJson, listen, rawUpgrade, until } from './helpers/net.js'

t.test('reject mode answers the upgrade with a proper 503 and closes the socket', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode: 'reject' } })
  let handled = 0
  app.get('/ws', { websocket: true }, () => { handled++ })
  const { port, ws } = await listen(app)

  const outcome = await connect(`${ws}/ws`)
  t.equal(outcome.kind, 'refused')
  if (outcome.kind !== 'refused') return
  t.equal(outcome.status, 503)
  t.match(outcome.headers['retry-after'], /^\d+$/)
  t.equal(outcome.headers.connection, 'close')
  t.equal(outcome.headers['cache-control'], 'no-store')
  t.match(outcome.headers['content-type'], /^application\/json/)
  t.same(JSON.parse(outcome.body), { statusCode: 503, state: 'not-ready', retryAfter: Number(outcome.headers['retry-after']) })

  const raw = await rawUpgrade(port, '/ws')
  await raw.ended
  t.match(raw.received(), /^HTTP\/1\.1 503 Service Unavailable\r\n/, 'the raw response is a complete 503')
  t.match(raw.received(), /\r\n\r\n\{"statusCode":503/, 'with its body')
  t.equal(handled, 0, 'the handler never ran')
})

t.test('hold mode: a held upgrade times out with 503 + Retry-After', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode: 'hold', holdTimeoutMs: 100 } })
  app.get('/ws', { websocket: true }, () => {})
  const { ws } = await listen(app)
  const outcome = await connect(`${ws}/ws`)
  t.match(outcome, { kind: 'refused', status: 503, headers: { 'retry-after': /^\d+$/ } })
  if (outcome.kind === 'refused') t.equal(JSON.parse(outcome.body).state, 'timeout')
  const route = app.readiness.websocket?.getConnectionReadiness().routes['/ws']
  t.match(route, { held: 0, heldTotal: 1, holdTimeouts: 1, refused: 1 })
})

t.test('hold mode: beyond maxHeld, 503 at once; the held ones get in at readiness', async (t) => {
  const db = new Switch(false)
  const app = await buildApp(t, { probes: { db: { check: db.check, startIntervalMs: 5 } }, websocket: { mode: 'hold', maxHeld: 2, holdTimeoutMs: 5000 } })
  app.get('/ws', { websocket: true }, (socket) => socket.send('hi'))
  const { ws } = await listen(app)
  const first = connect(`${ws}/ws`)
  const second = connect(`${ws}/ws`)
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 2)
  const third = await connect(`${ws}/ws`)
  t.match(third, { kind: 'refused', status: 503 })
  if (third.kind === 'refused') t.equal(JSON.parse(third.body).state, 'full')
  db.up = true
  t.equal((await first).kind, 'open')
  t.equal((await second).kind, 'open')
  for (const o of [await first, await second]) if (o.kind === 'open') o.ws.close()
})

t.test('hold mode: clients that reset or leave while held are dropped cleanly', async (t) => {
  const db = new Switch(false)
  const app = await buildApp(t, { probes: { db: { check: db.check, startIntervalMs: 5 } }, websocket: { mode: 'hold', holdTimeoutMs: 10_000 } })
  let handled = 0
  app.get('/ws', { websocket: true }, (socket) => { handled++; socket.close() })
  const { port, ws } = await listen(app)
  const leaving = await Promise.all(Array.from({ length: 10 }, () => rawUpgrade(port, '/ws')))
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 10)
  leaving.slice(0, 5).forEach(({ socket }) => socket.resetAndDestroy()) // TCP RST
  leaving.slice(5).forEach(({ socket }) => socket.end()) // FIN
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 0)
  t.pass('every departed client was released from the hold, timers included (10 s hold did not have to pass)')
  db.up = true
  await new Promise<void>((resolve) => app.readiness.once('ready', resolve))
  // A client arriving after readiness is let in after anything released at readiness: once its handler
  // has run, a departed client released by mistake would have reached the handler too.
  const fresh = await connect(`${ws}/ws`)
  t.equal(fresh.kind, 'open', 'a new client gets in after readiness')
  if (fresh.kind === 'open') await closed(fresh.ws)
  t.equal(handled, 1, 'none of the departed reached the handler after readiness, only the new client')
  t.equal(app.readiness.websocket?.getConnectionReadiness().routes['/ws']?.accepted, 1)
})

t.test('per-route requirements: a chat route that needs Redis is not held hostage by analytics', async (t) => {
  const analytics = new Switch(false)
  const app = await buildApp(t, {
    probes: { redis: async () => {}, analytics: { check: analytics.check, startIntervalMs: 5 } },
    websocket: { mode: 'reject' }
  })
  app.get('/chat', { websocket: true, readiness: { requires: ['redis'] } }, (socket) => socket.close(1000))
  app.get('/dashboard', { websocket: true }, (socket) => socket.close(1000))
  app.get('/public', { websocket: true, readiness: false }, (socket) => socket.close(1000))
  const { ws, http } = await listen(app)
  await until(() => app.readiness.websocket?.isReadyForConnections('/chat') === true)
  t.equal((await connect(`${ws}/chat`)).kind, 'open', '/chat needs only redis')
  t.match(await connect(`${ws}/dashboard`), { kind: 'refused', status: 503 }, '/dashboard needs full readiness')
  t.equal((await connect(`${ws}/public`)).kind, 'open', 'a route with readiness: false is not gated')
  t.equal(app.readiness.websocket?.isReadyForConnections('/dashboard'), false)
  t.equal((await fetch(`${http}/health/websocket`)).status, 503, '/health/websocket: not every gated route would accept')
  const snapshot = app.readiness.websocket?.getConnectionReadiness()
  t.match(snapshot?.routes['/chat'], { ready: true, requires: ['redis'], missing: [] })
  t.match(snapshot?.routes['/dashboard'], { ready: false, requires: 'all', missing: ['analytics'], refused: 1 })
  t.notOk('/public' in (snapshot?.routes ?? {}))
  t.throws(() => app.readiness.websocket?.isReadyForConnections('/nope'), /not a gated route/)
  analytics.up = true
  await until(() => app.readiness.websocket?.isReadyForConnections() === true)
  t.equal((await connect(`${ws}/dashboard`)).kind, 'open')
  t.equal((await getJson(`${http}/health/websocket`)).status, 200)
})

t.test('a dependency lost after ready: new upgrades refused, open sockets stay unless the route asks to close them', async (t) => {
  const redis = new Switch(true)
  const app = await buildApp(t, { probes: { redis: { check: redis.check, intervalMs: 20, startIntervalMs: 5 } }, websocket: { mode: 'reject' } })
  app.get('/chat', { websocket: true }, (socket) => { socket.on('message', (d) => socket.send(d.toString())) })
  app.get('/feed', { websocket: true, readiness: { closeOnLoss: true } }, () => {})
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const chat = await connect(`${ws}/chat`)
  const feed = await connect(`${ws}/feed`)
  if (chat.kind !== 'open' || feed.kind !== 'open') { t.fail('both should open'); return }
  const feedClosed = closed(feed.ws)
  redis.up = false
  await until(() => !app.readiness.isReady())
  t.match(await feedClosed, { code: 1013, reason: /^dependency lost; retry in \d+s$/ }, 'closeOnLoss route: 1013, never 1011')
  t.match(await connect(`${ws}/chat`), { kind: 'refused', status: 503 }, 'new upgrades are refused again')
  const echo = new Promise<string>((resolve) => chat.ws.once('message', (d) => resolve(d.toString())))
  chat.ws.send('still here')
  t.equal(await echo, 'still here', 'the existing chat socket stayed open')
  redis.up = true
  await until(() => app.readiness.isReady())
  const again = await connect(`${ws}/chat`)
  t.equal(again.kind, 'open', 'accepted again once the dependency is back')
  chat.ws.close()
  if (again.kind === 'open') again.ws.close()
  t.equal(app.readiness.websocket?.getConnectionReadiness().routes['/feed']?.closedOnLoss, 1)
})

t.test('a plain HTTP route can opt in to the gate', async (t) => {
  const db = new Switch(false)
  const app = await buildApp(t, { probes: { db: { check: db.check, startIntervalMs: 5 } }, websocket: { mode: 'reject' } })
  app.get('/api/messages', { readiness: { gate: true } }, async () => ({ messages: [] }))
  app.get('/api/version', async () => ({ version: 1 }))
  const { http } = await listen(app)
  const refused = await getJson(`${http}/api/messages`)
  t.equal(refused.status, 503)
  t.match(refused.headers.get('retry-after'), /^\d+$/)
  t.equal((await fetch(`${http}/api/version`)).status, 200, 'routes that did not opt in are not gated')
  db.up = true
  await until(() => app.readiness.isReady())
  t.same((await getJson(`${http}/api/messages`)).body, { messages: [] })
})

t.test('a plain GET (no upgrade) on a WebSocket route is not gated', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode: 'hold' } })
  app.get('/ws', { websocket: true }, () => {})
  const { http } = await listen(app)
  t.equal((await fetch(`${http}/ws`)).status, 404, '@fastify/websocket answers it at once')
})
