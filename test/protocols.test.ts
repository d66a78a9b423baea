import { connect as h2connect } from 'node:http2'
import t from 'tap'
import WebSocket from 'ws'
import { buildApp, Switch } from './helpers/app.js'
import { until } from './helpers/net.js'
import { selfSigned } from './helpers/tls.js'

/**
 * docs/compatibility.md, protocols: the gate and the health routes on an HTTPS server and on an HTTP/2
 * server with allowHTTP1 (what browsers and h2 health checkers speak). WebSockets are HTTP/1.1 upgrades
 * in both: @fastify/websocket does not implement RFC 8441 (WebSockets over HTTP/2).
 */

const { key, cert } = selfSigned()

function wss (url: string): Promise<{ opened: boolean, first: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { ca: cert, handshakeTimeout: 10_000 })
    ws.once('message', (d) => { resolve({ opened: true, first: d.toString() }); ws.close() })
    ws.once('unexpected-response', (_q, res) => { resolve({ opened: false, first: String(res.statusCode) }); ws.terminate() })
    ws.once('error', (err) => resolve({ opened: false, first: err.message }))
  })
}

const servers = {
  'HTTPS (HTTP/1.1 over TLS)': { https: { key, cert } },
  'HTTP/2 with allowHTTP1': { http2: true, https: { key, cert, allowHTTP1: true } }
}

for (const [name, fastifyOptions] of Object.entries(servers)) {
  t.test(`${name}: a wss:// upgrade during a cold start is held, then admitted`, async (t) => {
    const db = new Switch(false)
    const app = await buildApp(t, { probes: { db: { check: db.check, startIntervalMs: 20 } }, websocket: { mode: 'hold', holdTimeoutMs: 10_000 } }, fastifyOptions as never)
    app.get('/ws', { websocket: true }, (socket) => { socket.send('handler ran') })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const outcome = wss(`wss://127.0.0.1:${port}/ws`)
    await until(() => app.readiness.websocket?.getConnectionReadiness().held === 1, 10_000)
    t.pass('held while not ready')
    db.up = true
    t.same(await outcome, { opened: true, first: 'handler ran' }, 'admitted once ready; the handler ran then')
  })
}

t.test('HTTP/2: the health routes answer over h2 streams (503 while starting, then 200)', async (t) => {
  const db = new Switch(false)
  const app = await buildApp(t, { probes: { db: { check: db.check, startIntervalMs: 20 } } }, { http2: true, https: { key, cert, allowHTTP1: true } } as never)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const session = h2connect(`https://127.0.0.1:${port}`, { ca: cert })
  t.teardown(() => session.close())
  const get = (path: string): Promise<{ status: number, alpn: string | false | undefined }> => new Promise((resolve) => {
    const stream = session.request({ ':path': path })
    let status = 0
    stream.on('response', (h) => { status = Number(h[':status']) })
    stream.resume()
    stream.on('close', () => resolve({ status, alpn: session.alpnProtocol }))
    stream.end()
  })
  t.same(await get('/health/ready'), { status: 503, alpn: 'h2' }, '/health/ready: 503 over h2 while the probe fails')
  t.same(await get('/health/websocket'), { status: 503, alpn: 'h2' }, '/health/websocket: 503 over h2')
  t.equal((await get('/health/live')).status, 200, '/health/live: 200')
  db.up = true
  await app.readiness.waitFor(undefined, { timeoutMs: 10_000 })
  t.equal((await get('/health/ready')).status, 200, '/health/ready: 200 once ready, on the same session')
  t.equal((await get('/health/websocket')).status, 200, '/health/websocket: 200')
})
