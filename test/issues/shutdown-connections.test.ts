import t from 'tap'
import { connect as tcpConnect, type Socket } from 'node:net'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { closed, connect } from '../helpers/net.js'
import { messages, startChild } from '../fixtures/shutdown-child.js'

/**
 * Issue 15, found in a hostile trial: the connections and signals the close
 * step did not expect. Each case is a real process receiving a real signal.
 */

const BOTH_LOCALHOSTS = fileURLToPath(new URL('../fixtures/localhost-both.mjs', import.meta.url))
const TWO_APPS = fileURLToPath(new URL('../fixtures/two-apps.mjs', import.meta.url))

function rawSocket (port: number, send: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => { if (send !== '') socket.write(send); resolve(socket) })
    socket.on('error', reject)
  })
}

// Node's server.close() ends idle keep-alive connections but not one that never finished a request, so
// 5 such clients (a browser's preconnect, a slow client) held every termination to shutdown.timeout and
// exit 1, with a log that listed nothing open.
t.test('connections that never sent a whole request do not hold the shutdown', async (t) => {
  const app = await startChild(t, { SHUTDOWN_OPTS: JSON.stringify({ delayMs: 0, timeoutMs: 8000 }) })
  const sockets = await Promise.all([
    ...Array.from({ length: 3 }, async () => await rawSocket(app.port!, '')),
    ...Array.from({ length: 3 }, async () => await rawSocket(app.port!, 'GET /work HTTP/1.1\r\nHost: x\r\n'))
  ])
  const ends = sockets.map((s) => new Promise<void>((resolve) => { s.once('close', () => resolve()); s.on('error', () => {}) }))
  const signalled = app.kill('SIGTERM')
  const { code, at } = await app.exited
  t.equal(code, 0, 'exit code 0, not a timeout')
  t.ok(at - signalled < 4000, `exited ${at - signalled} ms after SIGTERM (shutdown.timeout 8000)`)
  t.ok(messages(app).includes('shutdown complete'))
  t.notOk(messages(app).some((m) => m.startsWith('shutdown timed out')), 'no timeout logged')
  await Promise.all(ends)
})

t.test('a request in flight still finishes when a stuck connection is cut', async (t) => {
  const app = await startChild(t, { SHUTDOWN_OPTS: JSON.stringify({ delayMs: 0, timeoutMs: 8000 }), SLOW_MS: '1200' })
  const stuck = await rawSocket(app.port!, 'GET /work HTTP/1.1\r\n')
  stuck.on('error', () => {})
  const slow = fetch(`http://127.0.0.1:${app.port!}/slow`).then(async (r) => ({ status: r.status, body: await r.json() }))
  await app.waitLog((l) => l.msg === 'incoming request' && (l.req as { url?: string })?.url === '/slow')
  app.kill('SIGTERM')
  t.match(await slow, { status: 200, body: { ok: true } }, 'the in-flight request got its answer')
  t.equal((await app.exited).code, 0)
})

// The same signal twice within a moment (npm start under Ctrl-C) is tested with npm itself, in
// test/shutdown-npm-start.test.ts: two kill() calls from here can reach the child as one.

// listen({ host: 'localhost' }) opens a server per address; app.close() waits for the first only, so the
// process exited under a request on the other one and reported a clean shutdown.
t.test('listen on localhost with two servers: a request in flight on the second one finishes before exit', async (t) => {
  const app = await startChild(t, { HOST: 'localhost', NODE_OPTIONS: `--import=${BOTH_LOCALHOSTS}`, SHUTDOWN_OPTS: JSON.stringify({ delayMs: 0, timeoutMs: 8000 }), SLOW_MS: '1500' })
  const listening = app.logs.find((l) => typeof l.listening === 'number') as { addresses: Array<{ address: string, family: string }> }
  t.same(listening.addresses.map((a) => a.family).sort(), ['IPv4', 'IPv6'], 'two servers')
  // Only the second server is busy: the first one's close resolves at once, which is when the process exited.
  const results = ['::1'].map((host) => new Promise<{ host: string, status: number | string }>((resolve) => {
    const req = request({ host, port: app.port!, path: '/slow' }, (res) => { res.resume(); res.on('end', () => resolve({ host, status: res.statusCode ?? 0 })) })
    req.on('error', (err) => resolve({ host, status: err.message }))
    req.end()
  }))
  await app.waitLog((l) => l.msg === 'incoming request' && (l.req as { url?: string })?.url === '/slow')
  app.kill('SIGTERM')
  t.same(await Promise.all(results), [{ host: '::1', status: 200 }], 'the request on the second server got its answer')
  t.equal((await app.exited).code, 0)
})

t.test('from the signal on, every response ends its keep-alive connection, including one in flight when it came', async (t) => {
  const app = await startChild(t, { SHUTDOWN_OPTS: JSON.stringify({ delayMs: 1500, timeoutMs: 8000 }), SLOW_MS: '600' })
  const get = (path: string): Promise<{ status: number, connection: string | undefined }> => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: app.port!, path, agent: false, headers: { connection: 'keep-alive' } }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }))
    })
    req.on('error', reject)
    req.end()
  })
  t.equal((await get('/work')).connection, 'keep-alive', 'before the signal: keep-alive')
  const inFlight = get('/slow')
  await app.waitLog((l) => l.msg === 'incoming request' && (l.req as { url?: string })?.url === '/slow')
  app.kill('SIGTERM')
  await app.waitLog((l) => String(l.msg).startsWith('shutdown: readiness is 503'))
  t.same(await get('/work'), { status: 200, connection: 'close' }, 'during the delay: served, with Connection: close')
  t.same(await inFlight, { status: 200, connection: 'close' }, 'and so is the request that was in flight')
  t.equal((await app.exited).code, 0)
})

// Node never closes the response of a pipelined request still queued when its client goes away: counted
// by that response alone, it stayed in flight forever, and every later shutdown waited out its timeout.
t.test('pipelined requests whose client went away do not hold a later shutdown', async (t) => {
  const app = await startChild(t, { SHUTDOWN_OPTS: JSON.stringify({ delayMs: 0, timeoutMs: 6000 }), SLOW_MS: '300' })
  const socket = await rawSocket(app.port!, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n' + 'GET /work HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(20))
  socket.on('error', () => {})
  await new Promise((resolve) => setTimeout(resolve, 100))
  socket.destroy()
  await new Promise((resolve) => setTimeout(resolve, 800))
  const signalled = app.kill('SIGTERM')
  const { code, at } = await app.exited
  t.equal(code, 0, 'exit code 0')
  t.ok(at - signalled < 3000, `exited ${at - signalled} ms after SIGTERM (shutdown.timeout 6000)`)
  t.notOk(messages(app).some((m) => m.startsWith('shutdown timed out')))
})

// Counted from the suite's own onRequest hook, a request still in an app's async hook registered before
// it was not in flight yet, and the close cut its connection (plain Fastify answers it).
t.test('a request in an app\'s own async onRequest hook when the signal comes is still answered', async (t) => {
  const app = await startChild(t, { SHUTDOWN_OPTS: JSON.stringify({ delayMs: 0, timeoutMs: 6000 }), PRE_HOOK_MS: '400' })
  const answer = fetch(`http://127.0.0.1:${app.port!}/work`).then(async (r) => ({ status: r.status, body: await r.json() }), (err: Error) => ({ status: 0, body: String(err.cause ?? err) }))
  await new Promise((resolve) => setTimeout(resolve, 150))
  app.kill('SIGTERM')
  t.match(await answer, { status: 200, body: { ok: true } })
  t.equal((await app.exited).code, 0)
})

// One app's signal ran process.exit(0) under the other app of the process, cutting its sockets (1006).
t.test('two apps in one process: a signal only one of them handles leaves the other serving', async (t) => {
  const app = await startChild(t, {}, { script: TWO_APPS })
  const portB = (app.logs.find((l) => typeof l.listening === 'number') as { b: number }).b
  const onA = await connect(`ws://127.0.0.1:${app.port!}/chat`)
  const onB = await connect(`ws://127.0.0.1:${portB}/chat`)
  if (onA.kind !== 'open' || onB.kind !== 'open') throw new Error('should open')
  const closedA = closed(onA.ws)
  const closedB = closed(onB.ws)
  app.kill('SIGINT')
  t.equal((await closedB).code, 1012, 'b drained on its signal')
  await app.waitLog((l) => /another app in this process is still open/.test(String(l.msg)))
  t.equal(onA.ws.readyState, 1, 'a\'s socket is still open')
  t.equal((await fetch(`http://127.0.0.1:${app.port!}/work`)).status, 200, 'and a still serves')
  app.kill('SIGTERM')
  t.equal((await closedA).code, 1012, 'a drained on its own signal')
  t.equal((await app.exited).code, 0, 'then the process exits 0')
})
