import t from 'tap'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import readiness from '../index.js'
import { buildApp, Switch } from './helpers/app.js'
import { getJson, listen, sleep, until } from './helpers/net.js'

const ROUTES = ['live', 'startup', 'ready', 'websocket'] as const

async function statuses (base: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const route of ROUTES) out[route] = (await fetch(`${base}/health/${route}`)).status
  return out
}

t.test('the four routes tell the truth across a whole cold start, and after a dependency loss', async (t) => {
  const db = new Switch(false)
  let warmed = false
  const app = await buildApp(t, {
    probes: { db: { check: db.check, startIntervalMs: 10, intervalMs: 50 } },
    phases: {
      dependencies: { probes: ['db'] },
      websocket: { after: ['dependencies'], run: async () => { await sleep(100); warmed = true } }
    }
  })
  app.get('/ws', { websocket: true }, (socket) => socket.close(1000))
  const { http } = await listen(app)

  t.same(await statuses(http), { live: 200, startup: 503, ready: 503, websocket: 503 }, 'cold: only liveness passes')
  const ready = await getJson(`${http}/health/ready`)
  t.match(ready.headers.get('retry-after'), /^\d+$/, 'Retry-After in whole seconds')
  t.same(ready.body, { status: 'fail', retryAfter: Number(ready.headers.get('retry-after')) }, 'anonymous callers see the status and a retry hint only')
  t.notMatch(JSON.stringify(ready.body), /hunter2|postgres:|db/, 'no probe names, errors or secrets')

  db.up = true
  await new Promise<void>((resolve) => app.readiness.once('ready', resolve))
  t.equal(warmed, true, 'ready only after the last phase')
  t.same(await statuses(http), { live: 200, startup: 200, ready: 200, websocket: 200 }, 'ready: everything passes')
  t.same((await getJson(`${http}/health/ready`)).body, { status: 'pass' })

  db.up = false
  await new Promise<void>((resolve) => app.readiness.once('notReady', () => resolve()))
  t.same(await statuses(http), { live: 200, startup: 200, ready: 503, websocket: 503 }, 'dependency lost: startup stays done, liveness stays up')

  db.up = true
  await new Promise<void>((resolve) => app.readiness.once('ready', resolve))
  t.same(await statuses(http), { live: 200, startup: 200, ready: 200, websocket: 200 }, 'and back')
})

t.test('every route answers HEAD with the same status and no body, and is never cached', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => { throw new Error('down') } } })
  const { http } = await listen(app)
  for (const route of ROUTES) {
    const get = await fetch(`${http}/health/${route}`)
    const head = await fetch(`${http}/health/${route}`, { method: 'HEAD' })
    t.equal(head.status, get.status, `${route}: HEAD status`)
    t.equal(await head.text(), '', `${route}: HEAD has no body`)
    t.equal(get.headers.get('cache-control'), 'no-store', `${route}: Cache-Control`)
    t.equal(head.headers.get('cache-control'), 'no-store', `${route}: Cache-Control on HEAD`)
    t.match(get.headers.get('content-type'), /^application\/json/)
  }
})

t.test('a failing non-critical probe degrades readiness to warn with HTTP 200', async (t) => {
  const app = await buildApp(t, { probes: { analytics: { check: async () => { throw new Error('down') }, critical: false } } })
  const { http } = await listen(app)
  await until(() => app.readiness.degraded)
  const res = await getJson(`${http}/health/ready`)
  t.equal(res.status, 200)
  t.same(res.body, { status: 'warn' })
})

t.test('details policy: always, never, and per request; secrets never appear', async (t) => {
  const db = new Switch(false)
  const app = await buildApp(t, {
    probes: { db: db.check },
    health: { details: (request) => request.headers['x-health-token'] === 'let-me-see' }
  })
  const { http } = await listen(app)
  await until(() => app.readiness.status().probes.db?.status === 'fail')
  const anonymous = await getJson(`${http}/health/ready`)
  t.same(Object.keys(anonymous.body).sort(), ['retryAfter', 'status'])
  const allowed = await getJson(`${http}/health/ready`, { headers: { 'x-health-token': 'let-me-see' } })
  t.equal(allowed.status, 503)
  t.equal(allowed.body.probes.db.status, 'fail')
  t.equal(allowed.body.probes.db.lastError.message, 'connect ECONNREFUSED postgres://***@10.0.0.5/chat password=***')
  t.type(allowed.body.probes.db.latencyMs, 'number')
  t.same(allowed.body.missing, ['db'])
  const everything = JSON.stringify(allowed.body)
  t.notMatch(everything, /hunter2/, 'the password never appears')
  t.notMatch(everything, /\n\s+at /, 'no stack trace')
})

t.test('/health/startup with details shows each phase with timings and the critical path', async (t) => {
  const app = await buildApp(t, {
    phases: { db: async () => { await sleep(60) }, cache: async () => { await sleep(20) }, ws: { after: ['db', 'cache'], run: async () => {} } },
    health: { details: 'always' }
  })
  const { http } = await listen(app)
  await new Promise<void>((resolve) => app.readiness.once('ready', resolve))
  const res = await getJson(`${http}/health/startup`)
  t.equal(res.status, 200)
  t.equal(res.body.startup.state, 'done')
  t.same(res.body.startup.criticalPath, ['db', 'ws'])
  t.ok(res.body.phases.db.durationMs >= 55)
  t.match(res.body.phases.ws, { state: 'done', after: ['db', 'cache'], startedAt: String, finishedAt: String })
})

t.test('the prefix is configurable and the routes log quietly by default', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(chunk.toString()); cb() } })
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.register(readiness, { health: { prefix: '/_/health' } })
  app.get('/hello', async () => 'hi')
  const { http } = await listen(app)
  for (let i = 0; i < 10; i++) t.equal((await fetch(`${http}/_/health/live`)).status, 200)
  await fetch(`${http}/hello`)
  t.equal((await fetch(`${http}/health/live`)).status, 404)
  // No wait needed: 'incoming request' is written (synchronously, to this stream) before the response is sent.
  const requestLogs = lines.filter((l) => l.includes('"incoming request"'))
  t.ok(requestLogs.some((l) => l.includes('/hello')), 'an ordinary route is logged')
  t.notOk(requestLogs.some((l) => l.includes('/_/health/live')), 'health checks are not')
})

t.test('health: false registers no routes', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { health: false })
  await app.ready()
  t.equal((await app.inject('/health/live')).statusCode, 404)
})
