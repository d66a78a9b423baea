import t from 'tap'
import Fastify from 'fastify'
import readiness from '../index.js'
import { getJson, listen, until } from './helpers/net.js'

t.test('pressure reports its measurements as data: observedValue in ms and details', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { pressure: { maxEventLoopDelay: 5000, sampleInterval: 50 }, health: { details: 'always' } })
  const { http } = await listen(app)
  await until(() => app.readiness.isReady() && app.readiness.status().probes.pressure?.runs !== undefined && (app.readiness.status().probes.pressure?.runs ?? 0) > 0)
  const json = await getJson(`${http}/health/ready`)
  const pressure = json.body.probes.pressure
  t.equal(pressure.observedUnit, 'ms')
  // null when a sample saw the loop blocked throughout (JSON has no Infinity).
  t.ok(typeof pressure.observedValue === 'number' || pressure.observedValue === null, 'observedValue: the event-loop delay')
  t.match(pressure.details, { eventLoopUtilization: Number, heapUsedBytes: Number, rssBytes: Number })
  const hj = await getJson(`${http}/health/ready`, { headers: { accept: 'application/health+json' } })
  t.match(hj.body.checks['pressure:value'], [{ componentType: 'component', observedUnit: 'ms' }], 'health+json: observedValue/observedUnit')
  t.ok('observedValue' in (hj.body.checks['pressure:value'][0] as object))
})
