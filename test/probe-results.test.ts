import t from 'tap'
import Fastify from 'fastify'
import readiness from '../index.js'
import { Probe } from '../lib/probes/probe.js'
import { parseProbe } from '../lib/probes/options.js'
import { httpServer } from './helpers/servers.js'

// Issue 19: a check may resolve with a status and what it measured.

t.test('a check resolving with warn is passing but degraded, with its observed value', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  let lag = 120
  await app.register(readiness, {
    probes: {
      replica: { check: async () => lag > 100 ? { status: 'warn', observedValue: lag, observedUnit: 'ms', details: { replica: 'db-2', password: 'hunter2' }, message: 'replication lag high' } : { observedValue: lag, observedUnit: 'ms' } }
    },
    health: { details: 'always' }
  })
  await app.ready()
  await app.readiness.waitFor(['replica'], { timeoutMs: 5000 })
  t.equal(app.readiness.isReady(), true, 'warn counts as passing: the app is ready')
  const status = app.readiness.status()
  t.equal(status.status, 'warn', 'and degraded')
  t.match(status.probes.replica, { status: 'warn', observedValue: 120, observedUnit: 'ms', details: { replica: 'db-2', password: '***' } })
  const res = await app.inject('/health/ready')
  t.equal(res.statusCode, 200)
  t.notMatch(res.body, /hunter2/)
  lag = 10
  t.equal(await app.readiness.checkProbe('replica'), 'pass')
  t.equal(app.readiness.status().status, 'pass')
  t.match(app.readiness.status().probes.replica, { status: 'pass', observedValue: 10, observedUnit: 'ms' })
})

t.test('a check resolving with fail is a failure carrying its message', async (t) => {
  const probe = new Probe('queue', parseProbe('probes.queue', async () => ({ status: 'fail', message: 'queue depth 9000 above 5000', observedValue: 9000 })), () => {})
  t.equal(await probe.run(), 'fail')
  t.match(probe.snapshot(), { status: 'fail', observedValue: 9000, lastError: { message: 'queue depth 9000 above 5000' } })
  const bare = new Probe('queue', parseProbe('probes.queue', async () => ({ status: 'fail' })), () => {})
  t.equal(await bare.run(), 'fail')
  t.equal(bare.snapshot().lastError?.message, 'check reported fail')
})

t.test('a nestjs-style { status: "up" } is a loud failure, not a silent pass', async (t) => {
  const probe = new Probe('svc', parseProbe('probes.svc', async () => ({ status: 'up' })), () => {})
  t.equal(await probe.run(), 'fail')
  t.match(probe.snapshot().lastError?.message, /status "up"; expected 'pass', 'warn' or 'fail'/)
})

t.test('what drivers resolve with (a fetch Response, a query result, PONG) still simply passes', async (t) => {
  const url = await httpServer(t, (_req, res) => { res.writeHead(500); res.end('x') })
  for (const check of [async () => await fetch(url), async () => ({ rows: [{ '?column?': 1 }], rowCount: 1 }), async () => 'PONG', async () => false, async () => 0]) {
    const probe = new Probe('dep', parseProbe('probes.dep', check), () => {})
    t.equal(await probe.run(), 'pass')
    t.equal(probe.snapshot().observedValue, undefined)
  }
})

t.test('observed data is bounded and JSON-safe whatever the check returns', async (t) => {
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = cyclic
  const huge = { status: 'pass', observedValue: 'x'.repeat(1_000_000), details: { cyclic, big: 10n, list: Array.from({ length: 10_000 }, (_, i) => i), deep: { a: { b: { c: { d: { e: 1 } } } } } } }
  const probe = new Probe('dep', parseProbe('probes.dep', async () => huge), () => {})
  t.equal(await probe.run(), 'pass')
  const json = JSON.stringify(probe.snapshot())
  t.ok(json.length < 8 * 1024, `${json.length} bytes`)
  t.match(probe.snapshot().details, { big: '10' })
})

t.test('a failing run clears the previous run\'s observed data', async (t) => {
  let fail = false
  const probe = new Probe('dep', parseProbe('probes.dep', async () => { if (fail) throw new Error('down'); return { observedValue: 1 } }), () => {})
  await probe.run()
  t.equal(probe.snapshot().observedValue, 1)
  fail = true
  await probe.run()
  t.equal(probe.snapshot().observedValue, undefined)
})
