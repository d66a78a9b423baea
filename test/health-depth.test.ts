import t from 'tap'
import Fastify from 'fastify'
import readiness, { redisProbe } from '../index.js'
import { buildApp, Switch } from './helpers/app.js'
import { connect, getJson, listen, sleep, until } from './helpers/net.js'

const HEALTH_JSON = { accept: 'application/health+json' }

t.test('application/health+json when asked for: pass / warn / fail with checks keyed component:measurement', async (t) => {
  const db = new Switch(true)
  const analytics = new Switch(false)
  const app = await buildApp(t, {
    probes: {
      redis: { check: redisProbe({ url: 'redis://127.0.0.1:6379' }), intervalMs: 20 },
      db: { check: db.check, intervalMs: 20, startIntervalMs: 5 },
      analytics: { check: analytics.check, critical: false, startIntervalMs: 5 }
    },
    phases: { warm: { probes: ['db'] } },
    health: { details: 'always' }
  })
  const { http } = await listen(app)
  // Ready, and the failing non-critical probe has had its first verdict (warn needs it).
  await until(() => app.readiness.isReady() && app.readiness.degraded)

  const warn = await fetch(`${http}/health/ready`, { headers: HEALTH_JSON })
  t.equal(warn.status, 200, 'a failing non-critical probe: warn with 200')
  t.match(warn.headers.get('content-type'), /^application\/health\+json/)
  const body = await warn.json() as any
  t.equal(body.status, 'warn')
  t.match(body.checks['redis:responseTime'], [{ componentType: 'datastore', status: 'pass', observedValue: Number, observedUnit: 'ms', time: String }])
  t.match(body.checks['analytics:responseTime'], [{ status: 'warn', output: 'connect ECONNREFUSED postgres://***@10.0.0.5/chat password=***' }])
  t.match(body.checks['warm:duration'], [{ componentType: 'startup', status: 'pass', observedUnit: 'ms' }])
  t.notMatch(JSON.stringify(body), /hunter2/)

  db.up = false
  await until(() => !app.readiness.isReady())
  const fail = await fetch(`${http}/health/ready`, { headers: HEALTH_JSON })
  t.equal(fail.status, 503)
  t.match(fail.headers.get('retry-after'), /^\d+$/)
  t.match(await fail.json(), { status: 'fail', checks: { 'db:responseTime': [{ status: 'fail' }] } })
  analytics.up = true
  db.up = true
  await until(() => app.readiness.isReady() && !app.readiness.degraded)
  t.same((await getJson(`${http}/health/ready`)).body.status, 'pass')
})

t.test('health+json for anonymous callers is status only; exposeNames adds names and statuses, nothing more', async (t) => {
  const app = await buildApp(t, { probes: { redis: async () => {}, db: async () => { throw new Error('pw=hunter2') } } })
  const { http } = await listen(app)
  const verdicts = (a: typeof app) => () => a.readiness.status().probes.redis?.status === 'pass' && a.readiness.status().probes.db?.status === 'fail'
  await until(verdicts(app))
  t.same(await (await fetch(`${http}/health/ready`, { headers: HEALTH_JSON })).json(), { status: 'fail' })

  const named = await buildApp(t, { probes: { redis: async () => {}, db: async () => { throw new Error('pw=hunter2') } }, health: { exposeNames: true } })
  const { http: namedHttp } = await listen(named)
  await until(verdicts(named))
  const json = await getJson(`${namedHttp}/health/ready`)
  t.same(json.body, { status: 'fail', retryAfter: json.body.retryAfter, checks: { redis: 'pass', db: 'fail' } })
  const hj = await (await fetch(`${namedHttp}/health/ready`, { headers: HEALTH_JSON })).json()
  t.same(hj, { status: 'fail', checks: { 'redis:responseTime': [{ componentType: 'component', status: 'pass' }], 'db:responseTime': [{ componentType: 'component', status: 'fail' }] } })
})

t.test('format: health+json as the configured default', async (t) => {
  const app = await buildApp(t, { health: { format: 'health+json' } })
  const { http } = await listen(app)
  await until(() => app.readiness.isReady())
  const res = await fetch(`${http}/health/ready`)
  t.match(res.headers.get('content-type'), /^application\/health\+json/)
  t.same(await res.json(), { status: 'pass' })
})

t.test('readiness groups: /health/ready/chat needs Redis only', async (t) => {
  const analytics = new Switch(false)
  const app = await buildApp(t, {
    probes: { redis: async () => {}, analytics: { check: analytics.check, startIntervalMs: 5 } },
    health: { groups: { chat: ['redis'], reports: ['analytics', 'redis'] } }
  })
  const { http } = await listen(app)
  await until(() => app.readiness.status().probes.redis?.status === 'pass')
  t.equal((await fetch(`${http}/health/ready/chat`)).status, 200, 'the chat group is ready')
  t.equal((await fetch(`${http}/health/ready/reports`)).status, 503, 'the reports group is not')
  t.equal((await fetch(`${http}/health/ready`)).status, 503, 'the instance as a whole is not')
  analytics.up = true
  await until(() => app.readiness.isReady())
  t.equal((await fetch(`${http}/health/ready/reports`)).status, 200)
})

t.test('a group naming an unknown probe fails ready()', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { redis: async () => {} }, health: { groups: { chat: ['redis', 'kafka'] } } })
  await t.rejects(async () => { await app.ready() }, /option "health.groups.chat" names "kafka"/)
})

t.test('without the WebSocket gate, readiness still turns 503 first on close', async (t) => {
  const app = Fastify()
  await app.register(readiness, { websocket: false })
  let readyAtDrain: boolean | null = null
  app.addHook('preClose', (done) => { readyAtDrain = app.readiness.isReady(); done() })
  await listen(app)
  await until(() => app.readiness.isReady())
  await app.close()
  t.equal(readyAtDrain, false, 'readiness had turned off before later preClose hooks ran')
  t.equal(app.readiness.draining, true)
})

t.test('pressure: a blocked event loop fails readiness and sheds gated routes, liveness stays up', async (t) => {
  // The limit sits far above what a loaded machine's scheduling adds to an idle loop (tens of ms), and the
  // test's blocker far above the limit: the verdicts follow the blocker, not the machine.
  const app = await buildApp(t, {
    pressure: { maxEventLoopDelay: 150, sampleInterval: 50 },
    websocket: { mode: 'reject' },
    health: { details: 'always' }
  })
  app.get('/ws', { websocket: true }, (socket) => socket.close(1000))
  app.get('/chat', { websocket: true, readiness: { requires: [] } }, (socket) => socket.close(1000))
  app.get('/plain', async () => 'ok')
  const { http, ws } = await listen(app)
  await until(() => app.readiness.isReady(), 20_000)
  // The first samples after boot may still see the start-up's own busy loop: accepted within a few tries.
  let before = await connect(`${ws}/ws`)
  for (let i = 0; i < 20 && before.kind !== 'open'; i++) { await until(() => app.readiness.isReady(), 20_000); before = await connect(`${ws}/ws`) }
  t.equal(before.kind, 'open', 'before pressure the gated route accepts')

  // Keep the loop mostly blocked: 400 ms busy, then a moment for timers and I/O.
  let blocking = true
  const blocker = (async () => {
    while (blocking) {
      const until = Date.now() + 400
      while (Date.now() < until) { /* busy */ }
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  try {
    await until(() => !app.readiness.isReady(), 20_000)
    const ready = await getJson(`${http}/health/ready`)
    t.equal(ready.status, 503, 'readiness fails under pressure')
    t.match(ready.body.probes.pressure.lastError.message, /under pressure: event loop delay (\d+ ms|over the limit)/)
    t.equal((await fetch(`${http}/health/live`)).status, 200, 'liveness stays up')
    t.equal((await fetch(`${http}/health/startup`)).status, 200, 'startup stays done')
    t.match(await connect(`${ws}/ws`), { kind: 'refused', status: 503, headers: { 'retry-after': /^\d+$/ } }, 'a gated route sheds with 503 + Retry-After')
    t.match(await connect(`${ws}/chat`), { kind: 'refused', status: 503 }, 'even one with its own requirements')
    t.equal((await fetch(`${http}/plain`)).status, 200, 'an ungated route is not shed by the suite')
  } finally {
    blocking = false
    await blocker
  }
  // Asked over HTTP until it says 200 (the bound only decides how long a failure takes).
  let status = 0
  for (const deadline = Date.now() + 20_000; status !== 200 && Date.now() < deadline; await sleep(20)) status = (await fetch(`${http}/health/ready`)).status
  t.equal(status, 200, 'and back once the loop is free')
})

t.test('pressure: effect warn degrades instead of failing', async (t) => {
  const app = await buildApp(t, { pressure: { maxHeapUsedBytes: 1, sampleInterval: 20, effect: 'warn' } })
  const { http } = await listen(app)
  await until(() => app.readiness.degraded, 5000)
  const res = await getJson(`${http}/health/ready`)
  t.equal(res.status, 200)
  t.same(res.body, { status: 'warn' })
})

t.test('pressure options are validated', async (t) => {
  for (const [pressure, message] of [
    [{}, /option "pressure" sets no threshold/],
    // Found by the property suite: the one threshold given, set to 0, is the option to name.
    [{ maxEventLoopDelay: 0 }, /option "pressure.maxEventLoopDelay" sets no threshold/],
    [{ maxEventLoopDelay: 0, maxRssBytes: 0 }, /option "pressure" sets no threshold/],
    [{ maxEventLoopUtilization: 2 }, /option "pressure.maxEventLoopUtilization" must be a number between 0 and 1/],
    [{ maxEventLoopDelay: -5 }, /option "pressure.maxEventLoopDelay" must be a non-negative number/],
    [{ maxEventLoopDelay: 50, effect: 'shed' }, /option "pressure.effect" must be one of 'fail', 'warn'/]
  ] as const) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(readiness, { pressure: pressure as never }) }, message)
    await app.close()
  }
})
