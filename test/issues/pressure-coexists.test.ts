import t from 'tap'
import Fastify from 'fastify'
import underPressure from '@fastify/under-pressure'
import readiness from '../../index.js'
import { listen, until } from '../helpers/net.js'

/**
 * Issue 12: the suite's `pressure` option next to an app's own @fastify/under-pressure failed to register
 * (`already registered`, or FST_ERR_DEC_ALREADY_PRESENT: memoryUsage), and the suite's internal copy still
 * called a route's config.pressureHandler, so "never shed" did not hold.
 */
for (const order of ['app first', 'suite first'] as const) {
  t.test(`the app's own @fastify/under-pressure and the suite's pressure option coexist (${order})`, async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    const own = async (): Promise<void> => { await app.register(underPressure, { maxEventLoopDelay: 100_000, exposeStatusRoute: '/status' }) }
    const suite = async (): Promise<void> => { await app.register(readiness, { pressure: { maxHeapUsedBytes: 1, sampleInterval: 20 }, shutdown: false }) }
    if (order === 'app first') { await own(); await suite() } else { await suite(); await own() }
    const { http } = await listen(app)
    t.equal(typeof app.isUnderPressure, 'function', 'the app\'s decorators are its own instance\'s')
    t.equal(app.isUnderPressure(), false, 'and follow its thresholds, not the suite\'s')
    t.equal((await fetch(`${http}/status`)).status, 200, 'its status route is there')
    await until(() => !app.readiness.isReady(), 5000)
    t.pass('the suite\'s own thresholds (heap over 1 byte) made readiness fail')
  })
}

t.test('the suite never sheds an app route, nor calls its config.pressureHandler', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { pressure: { maxHeapUsedBytes: 1, sampleInterval: 20 }, shutdown: false })
  let called = 0
  app.get('/work', { config: { pressureHandler: () => { called++ } } }, async () => ({ ok: true }))
  const { http } = await listen(app)
  await until(() => !app.readiness.isReady(), 5000)
  for (let i = 0; i < 5; i++) t.equal((await fetch(`${http}/work`)).status, 200)
  t.equal(called, 0, 'the route\'s pressureHandler was never called by the suite')
  t.equal((await fetch(`${http}/health/live`)).status, 200, 'liveness stays up')
  t.equal((await fetch(`${http}/health/ready`)).status, 503, 'readiness says it')
})
