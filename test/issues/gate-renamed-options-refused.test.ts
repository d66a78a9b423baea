import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness, { ReadinessOptionError, readinessProbes, readinessWebSocketGate } from '../../index.js'
import { registrationError } from '../helpers/app.js'
import { connect, listen } from '../helpers/net.js'

/**
 * Issue 23: the gate's millisecond options end in `Ms` since 0.3.0. An old name is refused at
 * registration with an error that names the new one, so an upgrade does not silently keep a default.
 */
const RENAMED: Array<[string, string]> = [
  ['holdTimeout', 'holdTimeoutMs'],
  ['maxHoldTimeout', 'maxHoldTimeoutMs'],
  ['refusedCloseTimeout', 'refusedCloseTimeoutMs'],
  ['drainTimeout', 'drainTimeoutMs'],
  ['drainSpread', 'drainSpreadMs']
]

t.test('an old gate option name is refused, naming the new one', async (t) => {
  for (const [old, now] of RENAMED) {
    const err = await registrationError({ websocket: { [old]: 1000 } }, { withWebSocket: true })
    t.type(err, ReadinessOptionError, old)
    t.equal((err as ReadinessOptionError).option, `websocket.${old}`, `${old}: the error names the old key`)
    t.match((err as Error).message, new RegExp(`"websocket\\.${old}" was renamed to ${now}\\b`), `${old}: the message names ${now}`)
    t.equal((err as ReadinessOptionError).code, 'FST_READINESS_INVALID_OPTION')
  }
})

t.test('the new names are accepted with the same values', async (t) => {
  const options = Object.fromEntries(RENAMED.map(([, now]) => [now, 1000]))
  t.equal(await registrationError({ websocket: options }, { withWebSocket: true }), null)
})

t.test('the gate registered on its own refuses the old names too', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(readinessProbes)
  await t.rejects(async () => {
    await app.register(readinessWebSocketGate, { drainTimeout: 1000 } as never)
    await app.ready()
  }, /"websocket\.drainTimeout" was renamed to drainTimeoutMs/)
})

t.test('the route option readiness.holdTimeout is refused, naming readiness.holdTimeoutMs', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness)
  await app.register(websocket)
  let thrown: unknown
  try {
    app.get('/ws', { websocket: true, readiness: { holdTimeout: 2000 } as never }, () => {})
    await app.ready()
  } catch (err) {
    thrown = err
  }
  t.type(thrown, ReadinessOptionError)
  t.match((thrown as Error).message, /"routes\["GET \/ws"\]\.readiness\.holdTimeout" was renamed to holdTimeoutMs\b/)
})

t.test('the route option readiness.holdTimeoutMs bounds the hold of that route', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode: 'hold', holdTimeoutMs: 20_000 } })
  await app.register(websocket)
  const routeOptions = { holdTimeoutMs: 100, closeOnLoss: false }
  app.get('/ws', { websocket: true, readiness: routeOptions }, () => {})
  const { ws } = await listen(app)
  const started = Date.now()
  const outcome = await connect(`${ws}/ws`, { handshakeTimeout: 10_000 })
  t.match(outcome, { kind: 'refused', status: 503 }, 'refused once the route\'s hold ends')
  t.ok(Date.now() - started < 5000, 'after the route\'s 100 ms, not the gate\'s 20 s')
  t.equal(app.readiness.websocket?.getConnectionReadiness().routes['/ws']?.holdTimeouts, 1)
})
