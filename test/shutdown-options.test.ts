import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness, { ReadinessOptionError, readinessShutdown, type FastifyReadinessOptions } from '../index.js'
import { shutdownSettings, shutdownWarnings } from '../lib/shutdown/defaults.js'
import { listen, sleep } from './helpers/net.js'

async function appWith (t: Test, options: FastifyReadinessOptions, lines: Array<Record<string, unknown>> = []) {
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } } } })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(readiness, options)
  return app
}

t.test('shutdown options are validated at registration, with errors naming the option', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ delayMs: -1 }, /shutdown\.delayMs/],
    [{ delayMs: '5s' }, /shutdown\.delayMs/],
    [{ timeoutMs: 0 }, /shutdown\.timeoutMs/],
    [{ timeoutMs: 500, delayMs: 1000 }, /shutdown\.timeoutMs.*longer than the delay/],
    [{ gracePeriodSeconds: 2.5 }, /shutdown\.gracePeriodSeconds/],
    [{ signals: [] }, /shutdown\.signals/],
    [{ signals: ['SIGKILL'] }, /shutdown\.signals/],
    [{ signals: ['SIGTERM', 'SIGTERM'] }, /shutdown\.signals.*twice/],
    [{ signals: true }, /shutdown\.signals/],
    [{ drainDelay: 100 }, /shutdown\.drainDelay.*not a known option/],
    ['yes', /shutdown/]
  ]
  for (const [shutdown, message] of cases) {
    const app = Fastify()
    const err = await (async () => {
      await app.register(readiness, { shutdown } as FastifyReadinessOptions)
      await app.ready()
    })().then(() => null, (e: Error) => e)
    t.ok(err instanceof ReadinessOptionError, `${JSON.stringify(shutdown)} is refused`)
    t.match(err?.message, message)
    await app.close().catch(() => {})
  }
})

t.test('platform defaults, overridden by the operator\'s environment, overridden by options', async (t) => {
  t.match(shutdownSettings({ platform: 'kubernetes', env: {} }), { delay: 5000, timeout: 27_000, graceMs: 30_000 }, 'Kubernetes: 5 s delay, 30 s grace minus 3 s')
  t.match(shutdownSettings({ platform: 'cloud-run', env: {} }), { delay: 0, timeout: 9000, graceMs: 10_000 }, 'Cloud Run: no delay, inside its 10 s')
  t.match(shutdownSettings({ platform: 'local', env: {} }), { delay: 0, timeout: 10_000, graceMs: undefined }, 'local: short')
  t.match(shutdownSettings({ platform: 'kubernetes', env: {}, gracePeriodSeconds: 60 }), { timeout: 55_000, graceMs: 60_000 }, 'the timeout follows terminationGracePeriodSeconds')
  const env = { READINESS_SHUTDOWN_DELAY_MS: '2000', READINESS_GRACE_PERIOD_SECONDS: '20' }
  t.match(shutdownSettings({ platform: 'kubernetes', env }), { delay: 2000, timeout: 18_000, sources: { delay: 'env', grace: 'env' } }, 'env overrides the platform')
  t.match(shutdownSettings({ platform: 'kubernetes', env, delay: 1000 }), { delay: 1000, sources: { delay: 'option' } }, 'an option overrides env')
  t.throws(() => shutdownSettings({ platform: 'local', env: { READINESS_SHUTDOWN_TIMEOUT_MS: 'soon' } }), /READINESS_SHUTDOWN_TIMEOUT_MS/)
  t.throws(() => shutdownSettings({ platform: 'cloud-run', env: {}, delay: 9500 }), /shutdown\.delay/, 'a delay that eats the whole Cloud Run timeout is refused')
})

t.test('delay + drain beyond the grace period is warned about at start', async (t) => {
  const settings = shutdownSettings({ platform: 'kubernetes', env: {}, gracePeriodSeconds: 10, delay: 5000 })
  t.same(shutdownWarnings({ settings, drainBudgetMs: 4000 }), [], '5 s + 4 s fits 10 s')
  t.match(shutdownWarnings({ settings, drainBudgetMs: 6000 }), [/11000 ms exceeds the grace period of 10 s/])

  const lines: Array<Record<string, unknown>> = []
  const app = await appWith(t, { websocket: { drainTimeoutMs: 5000 }, shutdown: { delayMs: 6000, gracePeriodSeconds: 10, signals: false } }, lines)
  await app.ready()
  t.ok(lines.some((l) => l.level === 40 && /shutdown delay 6000 ms \+ WebSocket drain \d+ ms = \d+ ms exceeds the grace period of 10 s/.test(String(l.msg))), 'logged as a warning')
})

t.test('200 apps in one process: signal listeners come and go, no MaxListenersExceededWarning', async (t) => {
  const warnings: Error[] = []
  const onWarning = (w: Error): void => { warnings.push(w) }
  process.on('warning', onWarning)
  t.teardown(() => { process.removeListener('warning', onWarning) })
  const before = process.listenerCount('SIGTERM')
  const beforeInt = process.listenerCount('SIGINT')
  const apps = []
  for (let i = 0; i < 200; i++) {
    const app = Fastify()
    await app.register(readiness)
    await app.ready()
    apps.push(app)
  }
  t.equal(process.listenerCount('SIGTERM'), before + 1, '200 live apps share one SIGTERM listener')
  await Promise.all(apps.map(async (app) => await app.close()))
  t.equal(process.listenerCount('SIGTERM'), before, 'and it is removed when the last one closes')
  t.equal(process.listenerCount('SIGINT'), beforeInt, 'SIGINT too')
  await sleep(10)
  t.same(warnings.filter((w) => w.name === 'MaxListenersExceededWarning'), [])
})

t.test('signals: false installs nothing; app.readiness.shutdown() is the entry point for your own handler', async (t) => {
  const before = process.listenerCount('SIGTERM')
  const lines: Array<Record<string, unknown>> = []
  // A delay long enough for three requests on a loaded machine: they must land inside it.
  const app = await appWith(t, { shutdown: { signals: false, delayMs: 2500 } }, lines)
  app.get('/work', async () => ({ ok: true }))
  const { http } = await listen(app)
  t.equal(process.listenerCount('SIGTERM'), before)
  const started = Date.now()
  const done = app.readiness.shutdown()
  const ready = await fetch(`${http}/health/ready`)
  t.equal(ready.status, 503, 'readiness 503 at once')
  t.equal((await fetch(`${http}/health/live`)).status, 200, 'live stays 200')
  t.equal((await fetch(`${http}/work`)).status, 200, 'routes serve through the delay')
  await Promise.all([done, app.readiness.shutdown()]) // a second call joins the first

  t.ok(Date.now() - started >= 2490, 'resolved after the delay')
  t.equal(app.server.listening, false, 'and the app is closed')
})

t.test('the shutdown plugin works alone, without the umbrella', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readinessShutdown, { signals: false, delayMs: 0 })
  await app.ready()
  await app.readiness.shutdown()
  t.equal(app.readiness.draining, true)
})
