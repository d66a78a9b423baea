import t from 'tap'
import { captureLogger } from '../helpers/logs.js'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness from '../../index.js'
import { Switch } from '../helpers/app.js'
import { connect, listen, sleep, until } from '../helpers/net.js'

t.test('one startup summary line: phases with durations, the critical path, the budget', async (t) => {
  const { lines, stream } = captureLogger()
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.register(readiness, { phases: { db: () => sleep(30), cache: () => sleep(10), warm: { after: ['db', 'cache'], run: () => sleep(20) } } })
  await app.ready()
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  const summaries = lines.filter((l) => l.msg === 'startup finished')
  t.equal(summaries.length, 1, 'exactly one summary line')
  const s = summaries[0] as Record<string, any>
  t.same(Object.keys(s.phases).sort(), ['cache', 'db', 'warm'])
  t.ok(typeof s.phases.db === 'number' && s.phases.db >= 25, 'with durations')
  t.same(s.criticalPath, ['db', 'warm'], 'the critical path')
  t.ok(s.budgetMs > 0 && typeof s.budgetSource === 'string', 'and the budget')
  t.notOk(lines.some((l) => l.msg === 'startup phase finished'), 'no per-phase lines at info')
})

t.test('a probe that turns back to pass carries no stale error; a failing one logs a pino err', async (t) => {
  const { lines, stream } = captureLogger()
  const db = new Switch(true)
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { db: { check: db.check, intervalMs: 20 } } })
  await app.ready()
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  db.up = false
  await until(() => !app.readiness.isReady())
  db.up = true
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  const changes = lines.filter((l) => l.msg === 'readiness probe changed')
  const failing = changes.find((l) => l.status === 'fail')
  t.equal(failing?.level, 40, 'a lost dependency after ready is a WARN')
  t.equal(failing?.err?.type, 'Error')
  t.match(failing?.err?.message, /postgres:\/\/\*\*\*@10\.0\.0\.5/)
  t.notMatch(JSON.stringify(lines), /hunter2/)
  const back = changes.filter((l) => l.status === 'pass').at(-1)
  t.ok(back, 'the recovery is logged')
  t.equal(back?.err, undefined, 'with no stale error')
  t.equal(back?.error, undefined)
})

t.test('a graceful shutdown (draining, closing, drain) logs no WARN or ERROR', async (t) => {
  const { lines, stream } = captureLogger()
  const app = Fastify({ logger: { level: 'debug', stream } })
  await app.register(websocket)
  await app.register(readiness, { probes: { db: async () => {} }, phases: { slow: () => sleep(50) } })
  app.get('/ws', { websocket: true }, () => {})
  const { ws } = await listen(app)
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  const outcome = await connect(`${ws}/ws`)
  t.equal(outcome.kind, 'open')
  await app.readiness.shutdown()
  await app.close()
  const loud = lines.filter((l) => l.level >= 40)
  t.same(loud.map((l) => l.msg), [], 'no WARN/ERROR line')
})

t.test('closing during startup: aborted phases are not errors', async (t) => {
  const { lines, stream } = captureLogger()
  const app = Fastify({ logger: { level: 'info', stream } })
  await app.register(readiness, { phases: { slow: (_app, signal) => new Promise((resolve) => signal.addEventListener('abort', resolve)) } })
  await app.ready()
  await app.close()
  t.same(lines.filter((l) => l.level >= 40).map((l) => l.msg), [])
})
