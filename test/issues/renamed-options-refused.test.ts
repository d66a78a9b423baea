import t from 'tap'
import Fastify from 'fastify'
import readiness, { postgresProbe, redisProbe } from '../../index.js'
import { registrationError } from '../helpers/app.js'

// Issue 23: one unit convention, `...Ms` for milliseconds. Every option renamed in 0.3.0 must fail at
// registration with a ReadinessOptionError that names the old key's path and the new key, so an app
// upgraded without reading the changelog is told what to write instead of a bare "not a known option".

const ok = async (): Promise<void> => {}
const quiet = { shutdown: false, metrics: false } as const

const cases: Array<[string, Record<string, unknown>, string, string]> = [
  ['probe timeout', { probes: { db: { check: ok, timeout: 1000 } } }, 'probes.db.timeout', 'timeoutMs'],
  ['probe interval', { probes: { db: { check: ok, interval: 2000 } } }, 'probes.db.interval', 'intervalMs'],
  ['probe startInterval', { probes: { db: { check: ok, startInterval: 50 } } }, 'probes.db.startInterval', 'startIntervalMs'],
  ['phase timeout', { phases: { warm: { run: ok, timeout: 1000 } } }, 'phases.warm.timeout', 'timeoutMs'],
  ['phase expected', { phases: { warm: { run: ok, expected: 100 } } }, 'phases.warm.expected', 'expectedMs'],
  ['startup timeout', { startup: { timeout: 1000 } }, 'startup.timeout', 'timeoutMs'],
  ['startup failedLivenessGrace', { startup: { failedLivenessGrace: 1000 } }, 'startup.failedLivenessGrace', 'failedLivenessGraceMs'],
  ['statusPage refreshInterval', { statusPage: { refreshInterval: 1000 } }, 'statusPage.refreshInterval', 'refreshIntervalMs']
]

for (const [label, options, path, now] of cases) {
  t.test(`${label}: refused, naming ${now}`, async (t) => {
    const err = await registrationError({ ...quiet, ...options }) as { name: string, option: string, message: string }
    t.equal(err?.name, 'ReadinessOptionError')
    t.equal(err.option, path)
    t.match(err.message, `renamed to ${now}`)
  })
}

for (const [old, now] of [['delay', 'delayMs'], ['timeout', 'timeoutMs']] as const) {
  t.test(`shutdown ${old}: refused, naming ${now}`, async (t) => {
    const err = await registrationError({ metrics: false, shutdown: { [old]: 1000 } }) as { name: string, option: string, message: string }
    t.equal(err?.name, 'ReadinessOptionError')
    t.equal(err.option, `shutdown.${old}`)
    t.match(err.message, `renamed to ${now}`)
  })
}

t.test("addProbe's options and the waits' timeout: refused, naming the new key", async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { ...quiet, phases: { warm: ok } })
  await app.ready()
  const add = (options: Record<string, unknown>): void => { app.readiness.addProbe('x', ok, options) }
  t.throws(() => add({ timeout: 5 }), { name: 'ReadinessOptionError', option: 'probes.x.timeout', message: /renamed to timeoutMs/ })
  t.throws(() => add({ interval: 5 }), { name: 'ReadinessOptionError', option: 'probes.x.interval', message: /renamed to intervalMs/ })
  t.throws(() => add({ startInterval: 5 }), { name: 'ReadinessOptionError', option: 'probes.x.startInterval', message: /renamed to startIntervalMs/ })
  const old = { timeout: 10 } as unknown as { timeoutMs: number }
  await t.rejects(app.readiness.waitFor(undefined, old), { name: 'ReadinessOptionError', option: 'waitFor.timeout', message: /renamed to timeoutMs/ })
  await t.rejects(app.readiness.waitForPhase('warm', old), { name: 'ReadinessOptionError', option: 'waitForPhase.timeout', message: /renamed to timeoutMs/ })
})

t.test("the built-in probes' ms options: refused, naming the new key", async (t) => {
  t.throws(() => redisProbe({ url: 'redis://127.0.0.1:6379', timeout: 100 } as never), { name: 'ReadinessOptionError', option: 'redisProbe.timeout', message: /renamed to timeoutMs/ })
  t.throws(() => postgresProbe({ connectionString: 'postgres://u@127.0.0.1/db', statementTimeout: 100 } as never), { name: 'ReadinessOptionError', option: 'postgresProbe.statementTimeout', message: /renamed to statementTimeoutMs/ })
})
