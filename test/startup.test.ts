import t from 'tap'
import Fastify from 'fastify'
import readiness, { PhaseError, WaitTimeoutError } from '../index.js'
import { sleep, until } from './helpers/net.js'

const work = (ms: number) => async (_app: unknown, signal: AbortSignal): Promise<void> => {
  await sleep(ms)
  signal.throwIfAborted()
}

t.test('independent phases run in parallel, dependents wait for what they come after', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, {
    phases: {
      database: work(250),
      redis: work(100),
      cache: { after: ['redis'], run: work(50) },
      websocket: { after: ['database', 'cache'], run: work(30) }
    }
  })
  await app.ready()
  await app.readiness.waitForPhase('websocket', { timeoutMs: 2000 })
  const { phases, startup } = app.readiness.status()
  const at = (name: string, key: 'startedAt' | 'finishedAt'): number => Date.parse(phases[name]?.[key] as string)
  t.ok(at('redis', 'startedAt') < at('database', 'finishedAt'), 'redis started before database finished: they overlapped')
  t.ok(at('cache', 'startedAt') >= at('redis', 'finishedAt'), 'cache waited for redis')
  t.ok(at('websocket', 'startedAt') >= at('database', 'finishedAt'), 'websocket waited for database')
  t.ok(at('websocket', 'startedAt') >= at('cache', 'finishedAt'), 'websocket waited for cache')
  t.equal(startup.state, 'done')
  t.same(startup.criticalPath, ['database', 'websocket'], 'the critical path is the slowest chain')
  // Against the phases' own measured durations, which a loaded machine stretches as much as the whole.
  const sum = Object.values(phases).reduce((n, p) => n + (p.durationMs as number), 0)
  t.ok((startup.durationMs as number) < sum, `startup (${startup.durationMs} ms) took less than the sum of its steps (${sum} ms)`)
  t.equal(app.readiness.isReady(), true)
})

t.test('a phase waits for its probes, event-driven, then runs', async (t) => {
  let redisUp = false
  let ranAt = 0
  let upAt = 0
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, {
    probes: { redis: { check: async () => { if (!redisUp) throw new Error('down') }, startIntervalMs: 10 } },
    phases: { websocket: { probes: ['redis'], run: async () => { ranAt = Date.now() } } }
  })
  await app.ready()
  await until(() => app.readiness.status().probes.redis?.status === 'fail')
  t.equal(app.readiness.status().phases.websocket?.state, 'waiting', 'the phase waits while its probe fails')
  t.equal(ranAt, 0, 'its work has not run')
  redisUp = true
  upAt = Date.now()
  await app.readiness.waitForPhase('websocket', { timeoutMs: 1000 })
  t.ok(ranAt >= upAt, 'ran after the dependency came up')
})

t.test('a phase that times out fails, names what it waited for, skips its dependents and leaves the app not ready', async (t) => {
  const errors: string[] = []
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, {
    probes: { redis: async () => { throw new Error('down') } },
    phases: {
      dependencies: { probes: ['redis'], timeoutMs: 100 },
      websocket: { after: ['dependencies'], run: async () => {} },
      metrics: work(10)
    }
  })
  app.readiness.on('phaseFailed', (name, err) => errors.push(`${name}: ${err.message}`))
  await app.ready()
  await t.rejects(app.readiness.waitForPhase('websocket'), { name: 'PhaseError', message: /startup phase "websocket" skipped: phase "dependencies" before it did not finish/ })
  const status = app.readiness.status()
  t.same(errors, ['dependencies: startup phase "dependencies" timed out after 100 ms while waiting for probes: redis'])
  t.equal(status.startup.state, 'failed')
  t.same(status.startup.error, { phase: 'dependencies', message: 'startup phase "dependencies" timed out after 100 ms while waiting for probes: redis' })
  t.equal(status.phases.websocket?.state, 'skipped')
  t.equal(status.phases.metrics?.state, 'done', 'an independent branch still finished')
  t.equal(app.readiness.isReady(), false)
})

t.test('a phase whose run throws fails with its message', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { phases: { migrate: () => { throw new Error('relation "users" does not exist') } } })
  await app.ready()
  await t.rejects(app.readiness.waitForPhase('migrate'), /startup phase "migrate" failed: relation "users" does not exist/)
  t.equal(app.readiness.isReady(), false)
})

t.test('a phase run gets a signal that aborts at its timeout', async (t) => {
  let aborted: unknown = null
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, {
    phases: { warm: { timeoutMs: 50, run: (_app, signal) => new Promise((resolve) => signal.addEventListener('abort', () => { aborted = signal.reason; resolve(undefined) })) } }
  })
  await app.ready()
  await t.rejects(app.readiness.waitForPhase('warm'), /timed out after 50 ms while running/)
  t.type(aborted, PhaseError)
})

/** A phase that runs until the test lets it finish: what it shows meanwhile does not depend on the machine's speed. */
function heldPhase (): { run: () => Promise<void>, finish: () => void } {
  let finish = (): void => {}
  const done = new Promise<void>((resolve) => { finish = resolve })
  return { run: () => done, finish }
}

t.test('waitForPhase: times out, and rejects unknown phases', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const slow = heldPhase()
  await app.register(readiness, { phases: { slow: slow.run } })
  await app.ready()
  await t.rejects(app.readiness.waitForPhase('slow', { timeoutMs: 30 }), WaitTimeoutError)
  await t.rejects(app.readiness.waitForPhase('nope'), /names unknown phase "nope" \(known phases: slow\)/)
  const waiting = app.readiness.waitForPhase('slow', { timeoutMs: 10_000 })
  slow.finish()
  await t.resolves(waiting, 'resolves once the phase is done')
})

t.test('background startup: listen() is not delayed, and readiness comes later', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const slow = heldPhase()
  await app.register(readiness, { phases: { slow: slow.run } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.equal(app.readiness.isReady(), false, 'listening before startup is done')
  t.equal(app.readiness.startupState, 'running')
  const ready = new Promise<void>((resolve) => app.readiness.once('ready', resolve))
  slow.finish()
  await ready
  t.equal(app.readiness.isReady(), true)
})

t.test('blocking startup: ready() waits for every phase', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { startup: { mode: 'blocking' }, phases: { slow: { run: work(100), timeoutMs: 1000 } } })
  await app.ready()
  t.equal(app.readiness.isReady(), true)
  t.equal(app.readiness.status().startup.mode, 'blocking')
})

t.test('blocking startup: ready() rejects with an error naming the phase that did not finish', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, {
    startup: { mode: 'blocking' },
    probes: { postgres: async () => { throw new Error('down') } },
    phases: { database: { probes: ['postgres'], timeoutMs: 100 }, websocket: { after: ['database'], run: async () => {}, timeoutMs: 1000 } }
  })
  await t.rejects(async () => { await app.ready() }, { name: 'PhaseError', phase: 'database', message: /timed out after 100 ms while waiting for probes: postgres/ })
})

t.test('startup.timeout bounds the whole graph and names the unfinished phases', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, {
    startup: { mode: 'blocking', timeoutMs: 120 },
    phases: { a: work(80), b: { after: ['a'], run: work(80) }, c: { after: ['b'], run: work(10) } }
  })
  await t.rejects(async () => { await app.ready() }, { name: 'PhaseError', phase: 'b', message: /did not finish within startup.timeoutMs 120 ms \(unfinished: b, c\)/ })
})

t.test('closing during startup aborts phases and leaves no timers behind', async (t) => {
  let aborted = false
  const app = Fastify()
  await app.register(readiness, {
    phases: { long: { timeoutMs: 60_000, run: (_a, signal) => new Promise((resolve) => signal.addEventListener('abort', () => { aborted = true; resolve(undefined) })) } }
  })
  await app.ready()
  await app.close()
  t.equal(aborted, true)
  t.equal(app.readiness.isReady(), false)
})
