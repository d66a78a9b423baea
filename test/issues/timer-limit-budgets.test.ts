import t from 'tap'
import Fastify from 'fastify'
import readiness, { ReadinessOptionError, type FastifyReadinessOptions } from '../../index.js'
import { computeBudget } from '../../lib/startup/budget.js'

const ok = async (): Promise<void> => {}
const local = { name: 'local', environment: 'development' } as unknown as Parameters<typeof computeBudget>[0]['platform']

// Issue 16: `timeout: 2147483647` per phase was accepted, the computed budget
// overflowed Node's timer limit and startup failed after 1 ms.
t.test('phases at the timer limit: the computed budget is clamped and startup does not fail at once', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { phases: { a: { run: ok, timeoutMs: 2_147_483_647 }, b: { after: ['a'], run: ok, timeoutMs: 2_147_483_647 } } } as FastifyReadinessOptions)
  await app.ready()
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  t.equal(app.readiness.isReady(), true)
  t.ok(app.readiness.status().startup.budgetMs <= 2_147_483_647)
})

t.test('computeBudget clamps to the timer limit and warns', async (t) => {
  const budget = computeBudget({ criticalPathMs: 4_294_967_294, criticalPath: ['a', 'b'], platform: local, env: {} })
  t.equal(budget.budgetMs, 2_147_483_647)
  t.match(budget.warnings.join('\n'), /clamped to 2147483647 ms/)
})

t.test('a duration beyond the timer limit is a registration error naming the option', async (t) => {
  for (const options of [
    { probes: { db: { check: ok, timeoutMs: 2_147_483_648 } } },
    { probes: { db: { check: ok, intervalMs: 1e12 } } },
    { phases: { db: { run: ok, timeoutMs: 3e9 } } },
    { startup: { timeoutMs: 2 ** 31 } }
  ]) {
    const app = Fastify()
    const err = await app.register(readiness, options as FastifyReadinessOptions).ready().then(() => null, (e: unknown) => e)
    await app.close().catch(() => {})
    t.type(err, ReadinessOptionError)
    t.match((err as Error).message, /must be at most 2147483647 ms/)
  }
})
