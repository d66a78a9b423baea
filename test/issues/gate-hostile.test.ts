import t from 'tap'
import { connect as tcp } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness from '../../index.js'
import { buildApp, Switch } from '../helpers/app.js'
import { closed, connect, listen, rawUpgrade, sleep, until } from '../helpers/net.js'

/** Issue 16, the hold queue under abuse, and the gate's options. */

t.test('one connection pipelining 1,000 GETs takes at most maxHeldPerConnection hold slots', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode: 'hold', holdTimeoutMs: 5000, maxHeld: 1000 } })
  app.get('/api', { readiness: { gate: true } }, async () => ({ ok: true }))
  app.get('/ws', { websocket: true }, () => {})
  const { port, ws } = await listen(app)
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(w.name) }
  process.on('warning', onWarning)
  t.teardown(() => { process.removeListener('warning', onWarning) })
  const hostile = tcp({ port, host: '127.0.0.1' })
  hostile.on('error', () => {})
  await new Promise((resolve) => hostile.once('connect', resolve))
  // Wait until the server has seen all 1,000 (each then met the gate), not a fixed time that a slow parse outlasts.
  let seen = 0
  app.server.on('request', () => { seen++ })
  hostile.write('GET /api HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(1000))
  await until(() => (app.readiness.websocket?.getConnectionReadiness().held ?? 0) >= 1)
  await until(() => seen === 1000, 10_000)
  const held = app.readiness.websocket?.getConnectionReadiness().held ?? 0
  t.ok(held <= 4, `the pipelining connection holds ${held} slots (limit 4)`)
  // Requests refused at once ('full') used to add a 'close' listener each to the one socket.
  t.same(warnings.filter((name) => name === 'MaxListenersExceededWarning'), [], 'no listener leak on the pipelining socket')
  const legit = connect(`${ws}/ws`, { handshakeTimeout: 8000 })
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === held + 1)
  t.pass('a legitimate upgrade still gets a slot, not 503 full')
  hostile.destroy()
  void app.close()
  t.match(await legit, { kind: 'refused', status: 503 })
})

t.test('a held client that sends data after its headers (then FIN) loses its slot at once', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode: 'hold', holdTimeoutMs: 20_000 } })
  let handled = 0
  app.get('/ws', { websocket: true }, () => { handled++ })
  const { port } = await listen(app)
  const peer = await rawUpgrade(port, '/ws')
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 1)
  peer.socket.end(Buffer.alloc(64 * 1024, 1))
  // The bound of the wait is only a backstop, well short of the 20 s hold timeout it tells apart.
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 0, 10_000)
  await peer.ended
  t.pass('released and closed long before the 20 s hold timeout')
  t.equal(handled, 0)
})

t.test('a held client that only sends FIN is released too', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode: 'hold', holdTimeoutMs: 20_000 } })
  app.get('/ws', { websocket: true }, () => {})
  const { port } = await listen(app)
  const peer = await rawUpgrade(port, '/ws')
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 1)
  peer.socket.end()
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 0, 10_000)
  t.pass('released')
})

t.test('held upgrades released in batches still all get in, messages intact', async (t) => {
  const db = new Switch(false)
  const app = await buildApp(t, { probes: { db: { check: db.check, startIntervalMs: 5 } }, websocket: { mode: 'hold', holdTimeoutMs: 10_000 } })
  app.get('/ws', { websocket: true }, (socket) => { socket.on('message', (d) => socket.send(d.toString())) })
  const { ws } = await listen(app)
  const pending = Array.from({ length: 150 }, () => connect(`${ws}/ws`, { handshakeTimeout: 10_000 }))
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 150, 10_000)
  db.up = true
  const outcomes = await Promise.all(pending)
  t.equal(outcomes.filter((o) => o.kind === 'open').length, 150, 'all 150 opened (RELEASE_BATCH is 64: three batches)')
  const echoes = await Promise.all(outcomes.map((o, i) => o.kind !== 'open'
    ? Promise.resolve('')
    : new Promise<string>((resolve) => { o.ws.once('message', (d) => resolve(d.toString())); o.ws.send(`m${i}`) })))
  t.equal(echoes.filter((e, i) => e === `m${i}`).length, 150, 'every socket works after release')
  for (const o of outcomes) if (o.kind === 'open') o.ws.terminate()
})

t.test('accept-then-close: a peer that never answers the 1013 is cut after refusedCloseTimeout', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode: 'accept-then-close', refusedCloseTimeoutMs: 200 } })
  let handled = 0
  app.get('/ws', { websocket: true }, () => { handled++ })
  const { port } = await listen(app)
  const peers = await Promise.all(Array.from({ length: 5 }, () => rawUpgrade(port, '/ws')))
  const started = Date.now()
  await Promise.all(peers.map((p) => p.ended))
  const took = Date.now() - started
  // refusedCloseTimeout 200 ms against ws's own 30 s close timeout: a bound far from both.
  t.ok(took < 15_000, `silent peers were cut after ${took} ms (refusedCloseTimeout 200), not ws's 30 s`)
  for (const p of peers) t.match(p.received(), /^HTTP\/1\.1 101 /, 'the handshake completed')
  t.equal(handled, 0, 'the handler never ran')
})

t.test('accept-then-close: beyond maxHeld sockets awaiting their close, an honest 503 instead', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode: 'accept-then-close', maxHeld: 3, refusedCloseTimeoutMs: 5000 } })
  app.get('/ws', { websocket: true }, () => {})
  const { port, ws } = await listen(app)
  const silent = await Promise.all(Array.from({ length: 3 }, () => rawUpgrade(port, '/ws')))
  await until(() => silent.every((p) => p.received().startsWith('HTTP/1.1 101')))
  const extra = await connect(`${ws}/ws`)
  t.match(extra, { kind: 'refused', status: 503 })
  if (extra.kind === 'refused') t.equal(JSON.parse(extra.body).state, 'full')
  for (const p of silent) p.socket.destroy()
})

t.test('maxHoldTimeout lets a hold outlast 5 s when the client allows it', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  // The warm-up ends 5.6 s after the upgrade is held, not 5.6 s after it began: on a loaded machine the
  // time until the upgrade arrives would otherwise eat into the hold being proven.
  let held = (): void => {}
  const upgradeHeld = new Promise<void>((resolve) => { held = resolve })
  await app.register(readiness, {
    phases: { warm: { run: async () => { await upgradeHeld; await sleep(5600) }, timeoutMs: 20_000 } },
    websocket: { mode: 'hold', maxHoldTimeoutMs: 10_000 }
  })
  await app.register(websocket)
  app.get('/ws', { websocket: true }, (socket) => socket.close(1000))
  const { ws } = await listen(app)
  const pending = connect(`${ws}/ws`, { handshakeTimeout: 12_000 })
  await until(() => app.readiness.websocket.getConnectionReadiness().held === 1, 10_000)
  const started = Date.now()
  held()
  const outcome = await pending
  t.equal(outcome.kind, 'open', 'held through a 5.6 s warm-up, then admitted')
  t.ok(Date.now() - started >= 5000, 'past the old 5 s cap')
  if (outcome.kind === 'open') await closed(outcome.ws)
})

t.test('gate options: wrong values are refused at registration, naming the option', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ maxHeld: 0 }, /"websocket\.maxHeld"/],
    [{ maxHeld: 1e15 }, /"websocket\.maxHeld" must be an integer from 1 to 1000000/],
    [{ closeReason: 'bye\nnow' }, /"websocket\.closeReason"/],
    [{ closeReason: 'nul\u0000' }, /"websocket\.closeReason"/],
    [{ maxHeldPerConnection: 0 }, /"websocket\.maxHeldPerConnection"/],
    [{ closeReason: 'bad \ud800 surrogate' }, /"websocket\.closeReason" must be a well-formed string/],
    [{ closeReason: 'x'.repeat(124) }, /"websocket\.closeReason"/],
    [{ drainDelay: 1000 }, /"websocket\.drainDelay" was replaced by shutdown\.delay/],
    [{ drainSpreadMs: -1 }, /"websocket\.drainSpreadMs"/],
    [{ maxHoldTimeoutMs: 0 }, /"websocket\.maxHoldTimeoutMs"/],
    [{ closeCode: 1011 }, /"websocket\.closeCode"/]
  ]
  for (const [websocketOptions, error] of cases) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(readiness, { websocket: websocketOptions as never }); await app.ready() }, error, JSON.stringify(websocketOptions))
    await app.close()
  }
})
