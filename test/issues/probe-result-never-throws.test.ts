import t from 'tap'
import { suiteOnly } from '../helpers/app.js'
import { parseResult } from '../../lib/probes/result.js'
import { getJson, listen, until } from '../helpers/net.js'

// Audit: parseResult ("never throws") threw on `Object.create(Date.prototype)`
// (it passes instanceof Date; getTime() throws) and on a Date subclass whose
// toISOString throws. And a details object's keys were all listed before the
// 32-entry cap was applied.

class HostileDate extends Date {
  override toISOString (): string { throw new Error('iso') }
}

t.test('Date look-alikes and hostile Date subclasses never make parseResult throw', async (t) => {
  const fake = Object.create(Date.prototype) as Date
  t.doesNotThrow(() => parseResult({ details: { d: fake } }))
  t.same(parseResult({ details: { d: fake } }).details, {}, 'a fake Date is no value')
  const real = new HostileDate(0)
  t.same(parseResult({ details: { d: real } }).details, { d: '1970-01-01T00:00:00.000Z' }, 'a subclass is read through Date\'s own method')
  t.same(parseResult({ observedValue: real }).observedValue, '1970-01-01T00:00:00.000Z')
  t.same(parseResult({ details: { d: new Date(NaN) } }).details, { d: null })
})

t.test('a probe resolving with those values passes, and its details are served', async (t) => {
  const wide: Record<string, number> = {}
  for (let i = 0; i < 10_000; i++) wide[`k${i}`] = i
  const app = await suiteOnly(t, {
    health: { details: 'always' },
    probes: { db: async () => ({ details: { fake: Object.create(Date.prototype), at: new HostileDate(0), wide } }) }
  })
  const { http } = await listen(app)
  await until(() => app.readiness.status().probes.db?.status !== 'unknown')
  const res = await getJson(`${http}/health/ready`)
  t.equal(res.status, 200)
  t.equal(res.body.probes.db.status, 'pass')
  t.equal(res.body.probes.db.details.at, '1970-01-01T00:00:00.000Z')
  t.equal(Object.keys(res.body.probes.db.details.wide).length, 32, 'capped at 32 entries')
})

t.test('a result object with more keys than a result has is not a result, whatever its size', async (t) => {
  const many: Record<string, unknown> = { status: 'fail', message: 'x' }
  for (let i = 0; i < 1000; i++) many[`k${i}`] = i
  t.same(parseResult(many), { status: 'pass' })
})
