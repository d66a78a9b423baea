import t from 'tap'
import { createServer } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness, { tcpProbe } from '../../index.js'
import { closed, connect, listen, until } from '../helpers/net.js'
import { freePort } from '../helpers/servers.js'

// Issue 24: with probes only (no phases) the startup is done at once, so the derived hold was one probe
// cycle (interval + timeout = 3 s, capped at 5 s): an upgrade held through a longer cold start got
// `503 {"state":"timeout"}` before the app was ready. The hold now lasts as long as the probe's own
// schedule can still see the dependency come up (42.1 s with defaults, the cap 60 s).

t.test('a held upgrade outlives a 5 s probe-only start with default options', async (t) => {
  const port = await freePort()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { db: tcpProbe({ port }) }, health: false })
  await app.register(websocket)
  let handled = 0
  app.get('/ws', { websocket: true }, (socket) => { handled++; socket.close(1000) })
  const { ws } = await listen(app)
  const startedAt = Date.now()
  // No handshake timeout of its own: the gate decides when the hold ends.
  const outcome = connect(`${ws}/ws`)
  await until(() => (app.readiness.websocket?.getConnectionReadiness().routes['/ws']?.held ?? 0) === 1)

  // The dependency: a real listening socket that appears 5 s after the start.
  const dependency = createServer((socket) => socket.destroy())
  t.teardown(() => new Promise<void>((resolve) => dependency.close(() => resolve())))
  const appeared = new Promise<void>((resolve) => {
    setTimeout(() => dependency.listen(port, '127.0.0.1', () => resolve()), Math.max(0, 5000 - (Date.now() - startedAt))).unref()
  })
  await appeared
  t.equal(app.readiness.isReady(), false, 'not ready before the dependency is seen')

  const result = await outcome
  t.equal(result.kind, 'open', result.kind === 'refused' ? `refused: ${result.body}` : 'held through the start, then admitted')
  if (result.kind === 'open') await closed(result.ws)
  t.equal(handled, 1)
  t.match(app.readiness.websocket?.getConnectionReadiness().routes['/ws'], { holdTimeouts: 0, refused: 0 })
})
