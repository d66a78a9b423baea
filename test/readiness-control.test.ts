import t from 'tap'
import Fastify from 'fastify'
import readiness, { type ReadinessApi } from '../index.js'
import { buildApp } from './helpers/app.js'
import { connect, getJson, listen, until } from './helpers/net.js'

t.test('out of service by hand: readiness and groups 503, upgrades refused, liveness 200; back in service', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => {} }, websocket: { mode: 'reject' }, health: { groups: { chat: ['db'] } } })
  app.get('/ws', { websocket: true }, (socket) => socket.close(1000))
  const { http, ws } = await listen(app)
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  app.readiness.setOutOfService('maintenance: reindexing')
  t.equal((await getJson(`${http}/health/ready`)).status, 503)
  t.equal((await getJson(`${http}/health/ready/chat`)).status, 503)
  t.equal((await getJson(`${http}/health/live`)).status, 200)
  const refused = await connect(`${ws}/ws`)
  t.equal(refused.kind, 'refused', 'a new upgrade is refused')
  t.same(app.readiness.missing(), ['out-of-service'])
  t.equal(app.readiness.status().outOfService, 'maintenance: reindexing')
  app.readiness.setInService()
  t.equal((await getJson(`${http}/health/ready`)).status, 200)
  const open = await connect(`${ws}/ws`)
  t.equal(open.kind, 'open')
  if (open.kind === 'open') open.ws.close()
  // One name each: lightship's signalNotReady/signalReady and the incident's setReadinessStatus are gone.
  app.readiness.setOutOfService()
  t.notOk(app.readiness.isReady())
  app.readiness.setInService()
  app.readiness.setOutOfService('drill')
  t.equal(app.readiness.outOfService, 'drill')
  app.readiness.setInService()
  t.ok(app.readiness.isReady())
  for (const alias of ['signalNotReady', 'signalReady', 'setReadinessStatus', 'registerReadinessCheck']) {
    t.equal((app.readiness as unknown as Record<string, unknown>)[alias], undefined, `no alias ${alias}`)
  }
})

t.test('markBroken: /health/live answers 503 (and stays so)', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => {} }, health: { additionalPaths: { live: '/livez', ready: '/readyz' } } })
  const { http } = await listen(app)
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  t.equal((await getJson(`${http}/livez`)).status, 200, '/livez serves liveness')
  t.equal((await getJson(`${http}/readyz`)).status, 200, '/readyz serves readiness')
  app.readiness.markBroken('heap corrupted')
  const live = await getJson(`${http}/health/live`)
  t.equal(live.status, 503)
  t.equal(live.headers.get('retry-after'), null, 'liveness has no Retry-After')
  t.equal((await getJson(`${http}/livez`)).status, 503)
  t.equal(app.readiness.status().broken, 'heap corrupted')
  t.notOk(app.readiness.isLive())
})

t.test('a startup that failed for good turns liveness to fail after failedLivenessGrace', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  // A grace far longer than one request takes, even on a loaded machine (a 200 ms one was over before the
  // request within it was answered): the request within it is really within it.
  await app.register(readiness, { phases: { migrate: () => { throw new Error('schema mismatch') } }, startup: { failedLivenessGraceMs: 1500 } })
  let brokenAt = 0
  app.readiness.once('broken', () => { brokenAt = Date.now() })
  const { http } = await listen(app)
  await until(() => app.readiness.startupState === 'failed')
  const live = await getJson(`${http}/health/live`)
  const answeredAt = Date.now()
  t.equal(live.status, 200, 'still live within the grace')
  t.ok(brokenAt === 0 || brokenAt >= answeredAt, 'the answer came before the grace ended')
  await until(() => !app.readiness.isLive(), 10_000)
  t.equal((await getJson(`${http}/health/live`)).status, 503, 'then liveness fails so the pod is restarted')
  t.match(app.readiness.broken, /startup failed 1500 ms ago: startup phase "migrate" failed: schema mismatch/)
})

t.test('failedLivenessGrace: false keeps liveness up after a failed startup', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { phases: { migrate: () => { throw new Error('x') } }, startup: { failedLivenessGraceMs: false } })
  const { http } = await listen(app)
  await until(() => app.readiness.startupState === 'failed')
  // Side by side, one that fails after it with a short grace: once that one has turned liveness to fail,
  // the first has outlived a grace longer than its own, and is still live.
  const graced = Fastify()
  t.teardown(() => graced.close())
  await graced.register(readiness, { phases: { migrate: () => { throw new Error('x') } }, startup: { failedLivenessGraceMs: 50 } })
  await graced.ready()
  await until(() => !graced.readiness.isLive(), 10_000)
  t.equal((await getJson(`${http}/health/live`)).status, 200)
  t.equal(app.readiness.broken, null)
})

t.test('groups: include/exclude, own details policy, additional path; info fields in health+json', async (t) => {
  let searchUp = false
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, {
    probes: { db: async () => {}, search: { check: async () => { if (!searchUp) throw new Error('down') }, intervalMs: 20 } },
    health: {
      groups: {
        core: { exclude: ['search'], details: 'always', additionalPath: '/readyz/core' },
        search: { include: ['search'] }
      },
      info: { version: '1.4.2', commit: 'abc1234', instanceId: 'chat-7f9c' },
      details: 'always'
    }
  })
  const { http } = await listen(app)
  await until(() => app.readiness.status().probes.search?.status === 'fail')
  const core = await getJson(`${http}/health/ready/core`)
  t.equal(core.status, 200, 'core excludes search: 200')
  t.same(Object.keys(core.body.probes), ['db'], 'and reports only its checks')
  t.equal((await getJson(`${http}/readyz/core`)).status, 200, 'also at its additional path')
  t.equal((await getJson(`${http}/health/ready/search`)).status, 503)
  t.equal((await getJson(`${http}/health/ready`)).status, 503)
  const hj = await getJson(`${http}/health/ready`, { headers: { accept: 'application/health+json' } })
  t.match(hj.body, { status: 'fail', version: '1.4.2', releaseId: 'abc1234', instanceId: 'chat-7f9c' })
  searchUp = true
  await until(() => app.readiness.isReady())
  t.equal((await getJson(`${http}/health/ready/search`)).status, 200)
})

t.test('group options are validated with the option path', async (t) => {
  for (const [groups, path] of [
    [{ a: { include: [] } }, 'health.groups.a.include'],
    [{ a: { nope: 1 } }, 'health.groups.a.nope'],
    [{ a: { additionalPath: '/x?y' } }, 'health.groups.a.additionalPath']
  ] as const) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(readiness, { health: { groups: groups as never } }) }, new RegExp(`option "${path.replace(/\./g, '\\.')}"`))
  }
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(readiness, { health: { info: { version: 'a\nb' } } }) }, /option "health\.info\.version"/)
})

t.test('app.readiness is typed narrowly; websocket is never null, even without the gate', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { db: async () => {} } })
  await app.ready()
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  const api: ReadinessApi = app.readiness
  // Under strict this compiles without `?.`: the point of the narrow type.
  t.equal(api.websocket.isReadyForConnections(), true)
  t.same(api.websocket.getConnectionReadiness().routes, {})
  // @ts-expect-error internal wiring is not part of the public type
  t.type(app.readiness.use, 'function')
  t.throws(() => {
    // @ts-expect-error the websocket view is not writable through the public type
    app.readiness.websocket = null
  })
})
