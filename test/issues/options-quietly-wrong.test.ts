import t from 'tap'
import Fastify from 'fastify'
import readiness, { ReadinessOptionError, readinessWebSocketGate, type FastifyReadinessOptions } from '../../index.js'
import { registrationError } from '../helpers/app.js'

const ok = async (): Promise<void> => {}

// Issue 16: 27 of 110 wrong option values were accepted silently.
const cases: Array<[string, unknown, string]> = [
  ['successThreshold: Number.MAX_VALUE (never ready)', { probes: { db: { check: ok, successThreshold: Number.MAX_VALUE } } }, 'probes.db.successThreshold'],
  ['failureThreshold: 1e300 (never fails)', { probes: { db: { check: ok, failureThreshold: 1e300 } } }, 'probes.db.failureThreshold'],
  ['successThreshold: 1001', { probes: { db: { check: ok, successThreshold: 1001 } } }, 'probes.db.successThreshold'],
  ['{ __proto__: fn } as the probes (the probe vanished)', { probes: { __proto__: ok } }, 'probes'],
  ['{ __proto__: fn } as a probe definition', { probes: { db: { __proto__: { check: ok } } } }, 'probes.db'],
  ['a probe name with NUL', { probes: { 'db\u0000': ok } }, 'probes'],
  ['a probe name with a newline', { probes: { 'db\nx': ok } }, 'probes'],
  ['a probe name with /', { probes: { 'db/primary': ok } }, 'probes'],
  ['a probe name with spaces', { probes: { 'my db': ok } }, 'probes'],
  ['health prefix /a?b', { health: { prefix: '/a?b' } }, 'health.prefix'],
  ['health prefix /health#x', { health: { prefix: '/health#x' } }, 'health.prefix'],
  ['health prefix with a route parameter', { health: { prefix: '/:id' } }, 'health.prefix'],
  ['health prefix with a wildcard', { health: { prefix: '/health/*' } }, 'health.prefix'],
  ['health prefix with //', { health: { prefix: '//health' } }, 'health.prefix'],
  ['health prefix with a .. segment', { health: { prefix: '/a/../health' } }, 'health.prefix'],
  ['health prefix with a space', { health: { prefix: '/he alth' } }, 'health.prefix'],
  ['health prefix with %', { health: { prefix: '/h%41' } }, 'health.prefix'],
  ['CORS origin with a path', { health: { cors: ['https://a.example.com/x'] } }, 'health.cors'],
  ['CORS origin with a query', { health: { cors: 'https://a.example.com?x' } }, 'health.cors'],
  ['CORS origin with a space', { health: { cors: 'https://a example.com' } }, 'health.cors'],
  ['CORS origin with port 70000', { health: { cors: 'https://a.example.com:70000' } }, 'health.cors'],
  ['CORS origin list empty', { health: { cors: [] } }, 'health.cors'],
  ['CORS origin with credentials', { health: { cors: 'https://u:p@a.example.com' } }, 'health.cors']
]

for (const [label, options, option] of cases) {
  t.test(`refused: ${label}`, async (t) => {
    const err = await registrationError(options, { withWebSocket: true })
    t.type(err, ReadinessOptionError, 'a ReadinessOptionError')
    t.equal((err as ReadinessOptionError).option, option)
  })
}

t.test('the boundaries that are right are accepted and work', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, {
    probes: { 'db.primary': { check: ok, successThreshold: 1000, failureThreshold: 1000 }, 'cache:1': ok, кэш: ok },
    health: { prefix: '/_internal/health-v1', cors: ['http://localhost:3000', 'https://[::1]:8443'] }
  } as FastifyReadinessOptions)
  await app.ready()
  await app.readiness.waitFor(['cache:1', 'кэш'], { timeoutMs: 5000 })
  const res = await app.inject('/_internal/health-v1/live')
  t.equal(res.statusCode, 200)
})

// With websocket: false the gate is not registered, so `readiness: { gate: true }` on an HTTP route did
// nothing: the handler ran while the app was not ready, with no word.
t.test('route readiness options with websocket: false are refused naming the route', async (t) => {
  for (const own of [{ gate: true }, { requires: ['db'] }]) {
    const app = Fastify()
    await app.register(readiness, { websocket: false, shutdown: false, probes: { db: async () => { throw new Error('down') } } })
    let err: unknown = null
    try {
      app.get('/api', { readiness: own }, async () => ({ ok: true }))
      await app.ready()
    } catch (e) { err = e }
    t.type(err, ReadinessOptionError, JSON.stringify(own))
    t.equal((err as ReadinessOptionError).option, 'routes["GET /api"].readiness')
    t.match((err as Error).message, /has no effect with websocket: false/)
    await app.close().catch(() => {})
  }
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { websocket: false, shutdown: false })
  app.get('/opted-out', { readiness: false }, async () => ({ ok: true }))
  await app.ready()
  t.pass('readiness: false is still fine')

  // The umbrella told websocket: false, and the gate registered on its own beside it: the options work.
  const both = Fastify()
  t.teardown(() => both.close())
  await both.register(readiness, { websocket: false, shutdown: false, probes: { db: async () => { throw new Error('down') } } })
  await both.register(readinessWebSocketGate, { mode: 'reject' })
  both.get('/api', { readiness: { gate: true } }, async () => ({ ok: true }))
  await both.ready()
  t.equal((await both.inject('/api')).statusCode, 503, 'the separately registered gate gates the route')
})
