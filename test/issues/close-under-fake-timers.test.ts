// @fastify/under-pressure's own suite (test/compat) fakes the global timers with sinon, setImmediate included,
// and closes its app in afterEach: the shutdown plugin's close waited on the global setImmediate, so every
// close hung, node:test saw an empty event loop, and 16 of its tests failed. A close never depends on the
// global timers an app's test may have replaced.
import t from 'tap'
import Fastify from 'fastify'
import readiness from '../../index.js'

t.test('app.close() resolves while the global setImmediate is replaced by a fake that never fires', async (t) => {
  const app = Fastify()
  await app.register(readiness, { probes: { db: async () => {} }, health: false, websocket: false })
  await app.ready()
  const real = globalThis.setImmediate
  let faked = 0
  globalThis.setImmediate = ((() => { faked++ }) as unknown) as typeof setImmediate
  try {
    const closed = app.close().then(() => 'closed')
    const timer = AbortSignal.timeout(5000)
    const outcome = await Promise.race([closed, new Promise((resolve) => timer.addEventListener('abort', () => resolve('hung')))])
    t.equal(outcome, 'closed', 'the close resolved')
  } finally {
    globalThis.setImmediate = real
  }
  t.comment(`calls to the fake: ${faked}`)
})
