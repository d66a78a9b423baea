import t from 'tap'
import { createHash } from 'node:crypto'
import { buildApp, Switch } from './helpers/app.js'
import { closed, connect, listen, rawUpgrade, sleep, until, type WsOutcome } from './helpers/net.js'

t.test('shutdown with open, held and arriving clients: 503 first, serve through the delay, then 1012, and the app closes', async (t) => {
  const slow = new Switch(false)
  const app = await buildApp(t, {
    probes: { search: { check: slow.check, critical: false, startIntervalMs: 5 } },
    websocket: { mode: 'hold', holdTimeoutMs: 30_000, drainTimeoutMs: 2000 },
    shutdown: { signals: false, delayMs: 400 }
  })
  app.get('/chat', { websocket: true }, (socket) => { socket.on('message', (d) => socket.send(d.toString())) })
  app.get('/search', { websocket: true, readiness: { requires: ['search'] } }, () => {})
  const { ws, http } = await listen(app)
  await until(() => app.readiness.isReady())

  const open = await Promise.all(Array.from({ length: 20 }, () => connect(`${ws}/chat`)))
  const sockets = open.map((o) => { if (o.kind !== 'open') throw new Error('should open'); return o.ws })
  const closes = sockets.map((s) => closed(s))
  const held = Array.from({ length: 5 }, () => connect(`${ws}/search`))
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 5)

  let closeStep = false
  app.readiness.once('closing', () => { closeStep = true })
  const shuttingDown = app.readiness.shutdown()
  // Clients keep arriving through the delay (load balancers still route here): served, then drained with the rest.
  const duringDelay: Array<Promise<{ code: number, reason: string }>> = []
  const readyDuringDelay: number[] = []
  while (!closeStep && duringDelay.length < 5) {
    const o = await connect(`${ws}/chat`, { handshakeTimeout: 3000 })
    if (closeStep) break
    if (o.kind !== 'open') { t.fail(`an upgrade during the delay must open: ${o.kind}`); break }
    duringDelay.push(closed(o.ws))
    readyDuringDelay.push(await fetch(`${http}/health/ready`).then((r) => r.status, () => 0))
    await sleep(20)
  }
  t.ok(duringDelay.length >= 1, `${duringDelay.length} upgrades admitted during the delay`)
  t.ok(readyDuringDelay.every((s) => s === 503), 'readiness answered 503 throughout the delay')

  // Once the close step begins, arriving upgrades get 503 (or find the server gone), never a hang.
  await until(() => closeStep, 5000)
  const arriving: Array<Promise<WsOutcome>> = []
  for (let i = 0; i < 5; i++) { arriving.push(connect(`${ws}/chat`, { handshakeTimeout: 3000 })); await sleep(5) }

  for (const h of await Promise.all(held)) {
    t.match(h, { kind: 'refused', status: 503 }, 'held upgrades were answered 503 when the close step began')
  }
  await shuttingDown
  t.equal(app.server.listening, false, 'the app closed')
  const codes = await Promise.all([...closes, ...duringDelay])
  t.same([...new Set(codes.map((c) => c.code))], [1012], 'every open socket was closed with 1012')
  t.equal(codes[0]?.reason, 'server restarting')
  for (const o of await Promise.all(arriving)) {
    if (o.kind === 'refused') t.equal(o.status, 503)
    else t.match(o, { kind: 'error', error: { message: /ECONNREFUSED|socket hang up|ECONNRESET/ } }, 'or the server was already gone')
    t.not(o.kind, 'open', 'no upgrade was accepted once closing')
  }
})

t.test('close code 1001 is configurable', async (t) => {
  const app = await buildApp(t, { websocket: { closeCode: 1001, closeReason: 'going away' } })
  app.get('/ws', { websocket: true }, () => {})
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const o = await connect(`${ws}/ws`)
  if (o.kind !== 'open') { t.fail('should open'); return }
  const done = closed(o.ws)
  await app.close()
  t.same(await done, { code: 1001, reason: 'going away' })
})

t.test('a peer that never answers the close frame cannot hold close() beyond drainTimeout', async (t) => {
  const app = await buildApp(t, { websocket: { drainTimeoutMs: 300 } })
  app.get('/ws', { websocket: true }, () => {})
  const { port } = await listen(app)
  await until(() => app.readiness.isReady())
  const peer = await rawUpgrade(port, '/ws')
  await until(() => peer.received().includes('\r\n\r\n'))
  const accept = createHash('sha1').update('dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
  t.match(peer.received(), `Sec-WebSocket-Accept: ${accept}`, 'the handshake completed')
  // The peer now goes silent: it never sends its close frame back.
  const started = Date.now()
  await app.close()
  const took = Date.now() - started
  t.ok(took >= 290, `close() waited for the drain timeout (${took} ms)`)
  t.ok(took < 5000, `and no longer: ws's own 30 s close timeout did not apply (${took} ms)`)
  await peer.ended
  t.match(Buffer.from(peer.received(), 'latin1').subarray(-40).toString('hex'), /88..03f4/, 'the peer was sent a 1012 close frame before being cut')
})
