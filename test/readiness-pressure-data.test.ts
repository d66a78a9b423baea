import t from 'tap'
import Fastify from 'fastify'
import readiness from '../index.js'
import { Probe, type ProbeConfig } from '../lib/probe.js'
import { getJson, listen, until } from './helpers/net.js'

// Runs where the probe runner understands check results with data (issue 19,
// lib/probe.ts); before that lands, pressure falls back to an error string.
const supported = await new Probe('cap', { check: () => ({ status: 'fail' }), timeout: 1000, interval: 1000, startInterval: 1000, critical: false, failureThreshold: 1, successThreshold: 1 } as ProbeConfig, () => {}).run() === 'fail'

t.test('pressure reports its measurements as data: observedValue in ms and details', { skip: supported ? false : 'the probe runner does not report check results yet' }, async (t) => {
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
