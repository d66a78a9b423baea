import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness, { readinessWebSocketGate, readinessHealth, readinessProbes, ReadinessOptionError, type FastifyReadinessOptions } from '../index.js'

const ok = async (): Promise<void> => {}

async function registrationError (options: unknown, fastifyOptions = {}): Promise<Error> {
  const app = Fastify(fastifyOptions)
  await app.register(websocket)
  try {
    await app.register(readiness, options as FastifyReadinessOptions)
    await app.ready()
  } catch (err) {
    return err as Error
  } finally {
    await app.close().catch(() => {})
  }
  throw new Error('expected registration to fail')
}

const cases: Array<[string, unknown, RegExp]> = [
  ['unknown top-level option', { probez: {} }, /option "probez" is not a known option/],
  ['probe that is not a function', { probes: { redis: 'redis://localhost' } }, /option "probes.redis" must be a check function/],
  ['probe object without check', { probes: { redis: { timeoutMs: 10 } } }, /option "probes.redis.check" must be a function \(it is required\)/],
  ['negative probe timeout', { probes: { redis: { check: ok, timeoutMs: -1 } } }, /option "probes.redis.timeoutMs" must be a positive number of milliseconds, got -1/],
  ['non-numeric probe interval', { probes: { redis: { check: ok, intervalMs: '2s' } } }, /option "probes.redis.intervalMs" must be a positive number of milliseconds, got "2s"/],
  ['zero phase timeout', { phases: { db: { run: ok, timeoutMs: 0 } } }, /option "phases.db.timeoutMs" must be a positive number/],
  ['NaN phase timeout', { phases: { db: { run: ok, timeoutMs: Number.NaN } } }, /option "phases.db.timeoutMs" must be a positive number of milliseconds, got NaN/],
  ['unknown probe option', { probes: { redis: { check: ok, retries: 3 } } }, /option "probes.redis.retries" is not a known option/],
  ['unknown phase option', { phases: { db: { run: ok, before: ['x'] } } }, /option "phases.db.before" is not a known option/],
  ['threshold below one', { probes: { redis: { check: ok, failureThreshold: 0 } } }, /option "probes.redis.failureThreshold" must be an integer from 1 to 1000, got 0/],
  ['phase with nothing to do', { phases: { db: {} } }, /option "phases.db" has nothing to do/],
  ['phase after itself', { phases: { db: { run: ok, after: ['db'] } } }, /option "phases.db.after" names the phase itself/],
  ['duplicate names in after', { phases: { a: ok, b: { run: ok, after: ['a', 'a'] } } }, /option "phases.b.after" names "a" twice/],
  ['unknown phase in after', { phases: { ws: { after: ['database'], run: ok } } }, /option "phases.ws.after" names unknown phase "database" \(known phases: ws\)/],
  ['unknown probe in a phase', { probes: { redis: ok }, phases: { deps: { probes: ['postgres'] } } }, /option "phases.deps.probes" names unknown probe "postgres" \(known probes: redis\)/],
  ['cycle', { phases: { a: { after: ['c'], run: ok }, b: { after: ['a'], run: ok }, c: { after: ['b'], run: ok } } }, /option "phases" contain a cycle: a -> c -> b -> a/],
  ['same name for a probe and a phase', { probes: { redis: ok }, phases: { redis: { run: ok } } }, /"redis" is already a probe: probe and phase names must be unique/],
  ['bad startup mode', { startup: { mode: 'eager' } }, /option "startup.mode" must be one of 'background', 'blocking', got "eager"/],
  ['bad gate mode', { websocket: { mode: 'queue' } }, /option "websocket.mode" must be one of 'hold', 'reject', 'accept-then-close', got "queue"/],
  ['bad close code', { websocket: { closeCode: 1011 } }, /option "websocket.closeCode" must be 1012 \(Service Restart\) or 1001 \(Going Away\), got 1011/],
  ['close reason too long', { websocket: { closeReason: 'x'.repeat(124) } }, /option "websocket.closeReason" must be a well-formed string of at most 123 UTF-8 bytes/],
  ['negative maxHeld', { websocket: { maxHeld: -1 } }, /option "websocket.maxHeld" must be an integer from 1 to 1000000/],
  ['bad health details', { health: { details: 'sometimes' } }, /option "health.details" must be 'never', 'always' or a function/],
  ['bad health prefix', { health: { prefix: 'health' } }, /option "health.prefix" must be a path starting with "\/"/],
  ['websocket section not an object', { websocket: 'hold' }, /option "websocket" must be an object or false, got "hold"/]
]

for (const [name, options, message] of cases) {
  t.test(name, async (t) => {
    const err = await registrationError(options)
    t.type(err, ReadinessOptionError)
    t.match(err.message, message)
  })
}

t.test('blocking startup whose budget exceeds pluginTimeout names both numbers and the fix', async (t) => {
  const err = await registrationError({
    startup: { mode: 'blocking' },
    phases: { db: { run: ok, timeoutMs: 8000 }, ws: { after: ['db'], run: ok, timeoutMs: 6300 } }
  })
  // The incident's 14.3 s production cold start, against Fastify's static 10 s.
  t.match(err.message, /option "startup.mode" is 'blocking', but the startup budget is 15730 ms \(critical path 14300 ms \+ 10% margin\), above Fastify's pluginTimeout of 10000 ms/)
  t.match(err.message, /pluginTimeout: 16730/)
})

t.test('blocking startup that fits a raised pluginTimeout is accepted', async (t) => {
  const app = Fastify({ pluginTimeout: 16_000 })
  t.teardown(() => app.close())
  await app.register(readiness, { startup: { mode: 'blocking' }, phases: { db: { run: ok, timeoutMs: 14_300 } } })
  await app.ready()
  t.equal(app.readiness.isReady(), true)
})

t.test('a route that requires an unknown phase or probe fails ready() and names the route', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(readiness, { probes: { redis: ok } })
  app.get('/chat', { websocket: true, readiness: { requires: ['redis', 'kafka'] } }, () => {})
  await t.rejects(async () => { await app.ready() }, /option "routes\["GET \/chat"\].readiness.requires" names "kafka", which is neither a phase nor a probe/)
})

t.test('bad route options fail at route registration', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(readiness, {})
  t.throws(() => app.get('/chat', { websocket: true, readiness: { mode: 'wait' } as never }, () => {}),
    /option "routes\["GET \/chat"\].readiness.mode" must be one of/)
})

t.test('a WebSocket route with no @fastify/websocket the gate can see is a clear error at ready()', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readinessProbes)
  await app.register(readinessWebSocketGate)
  app.get('/ws', { websocket: true } as never, () => {})
  await t.rejects(async () => { await app.ready() }, /option "websocket" cannot see the @fastify\/websocket that serves this app's upgrades/)
})

t.test('websocket options without @fastify/websocket are fine: plain HTTP routes can be gated', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { websocket: { mode: 'reject' } })
  await app.ready()
  t.pass()
})

t.test('@fastify/websocket registered after the suite: its routes are gated', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode: 'reject' } })
  await app.register(websocket)
  app.get('/ws', { websocket: true }, () => {})
  await app.ready()
  t.same(Object.keys(app.readiness.websocket?.getConnectionReadiness().routes ?? {}), ['/ws'])
})

t.test('each plugin checks its own options when registered on its own', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readinessProbes)
  await t.rejects(async () => { await app.register(readinessHealth, { details: 1 } as never) }, /option "health.details"/)
})
