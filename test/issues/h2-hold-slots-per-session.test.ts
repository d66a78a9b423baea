import { connect as h2connect, type ClientHttp2Session } from 'node:http2'
import t from 'tap'
import { buildApp, Switch } from '../helpers/app.js'
import { until } from '../helpers/net.js'
import { selfSigned } from '../helpers/tls.js'

/**
 * Issue 25: under HTTP/2 every stream's `request.raw.socket` is an object of its own, so counting hold
 * slots per socket let one session multiplexing 1,100 streams take all 1,000 slots; an honest client on
 * a session of its own then got 503 "full" at once. The session is the connection.
 */

function get (session: ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': path })
    let status = 0
    stream.on('response', (headers) => { status = Number(headers[':status']) })
    stream.on('error', () => resolve(-1))
    stream.on('close', () => resolve(status))
    stream.resume()
    stream.end()
  })
}

t.test('one HTTP/2 session with 1,100 streams takes at most maxHeldPerConnection hold slots', async (t) => {
  const { key, cert } = selfSigned()
  const db = new Switch(false)
  const app = await buildApp(t, { probes: { db: { check: db.check, startIntervalMs: 20 } }, websocket: { mode: 'hold', holdTimeoutMs: 20_000, maxHeld: 1000 } },
    { http2: true, https: { key, cert, allowHTTP1: true } } as never)
  app.get('/api', { readiness: { gate: true } }, async () => ({ ok: true }))
  let seen = 0
  app.addHook('onRequest', async () => { seen++ })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const origin = `https://127.0.0.1:${port}`

  const hostile = h2connect(origin, { ca: cert })
  hostile.on('error', () => {})
  t.teardown(() => hostile.destroy())
  await new Promise((resolve) => hostile.once('remoteSettings', resolve))
  const hostileStreams = Array.from({ length: 1100 }, () => get(hostile, '/api'))
  // Wait until the server has seen every stream (each met the gate), not a fixed time.
  await until(() => seen === 1100, 30_000)
  const held = app.readiness.websocket?.getConnectionReadiness().held ?? 0
  t.ok(held <= 4, `the multiplexing session holds ${held} slots (limit 4), not 1,000`)

  const honest = h2connect(origin, { ca: cert })
  honest.on('error', () => {})
  t.teardown(() => honest.destroy())
  const honestStatus = get(honest, '/api')
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === held + 1, 10_000)
  t.pass('the honest client on its own session is held, not refused "full"')
  db.up = true
  t.equal(await honestStatus, 200, 'and let through once ready')
  const statuses = await Promise.all(hostileStreams)
  t.equal(statuses.filter((s) => s === 200).length, held, 'the hostile session\'s held streams got in too')
  t.equal(statuses.filter((s) => s === 503).length, 1100 - held, 'the rest of its streams were refused 503 at once')
  hostile.close()
  honest.close()
})
