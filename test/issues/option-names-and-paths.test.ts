import t from 'tap'
import Fastify from 'fastify'
import readiness, { ReadinessOptionError } from '../../index.js'
import { listen } from '../helpers/net.js'
import { registrationError } from '../helpers/app.js'

// Audit: phase names were never checked (probe names were), so NUL, newline,
// "a/b", "a b", "", 100,000 characters and "__proto__" were accepted, the last
// vanishing from `phases` and the health+json checks. A throwing option getter
// surfaced as a bare `Error: GETTER`, and additional health paths took "."
// and ".." segments that the prefix refuses.

const ok = async (): Promise<void> => {}
const getter = (key: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  Object.defineProperty({ ...extra }, key, { get () { throw new Error('GETTER') }, enumerable: true })
const own = (key: string, value: unknown): Record<string, unknown> => Object.defineProperty({}, key, { value, enumerable: true })

async function refusal (options: unknown): Promise<unknown> {
  // Descriptors copied, not spread: a spread would run the getter here, in the test.
  return await registrationError(Object.defineProperties({ shutdown: false, metrics: false }, Object.getOwnPropertyDescriptors(options)))
}

const cases: Array<[string, unknown, string]> = [
  ['a phase name with NUL', { phases: { 'a\u0000b': ok } }, 'phases'],
  ['a phase name with a newline', { phases: { 'a\nb': ok } }, 'phases'],
  ['a phase name with /', { phases: { 'a/b': ok } }, 'phases'],
  ['a phase name with a space', { phases: { 'a b': ok } }, 'phases'],
  ['an empty phase name', { phases: { '': ok } }, 'phases'],
  ['a 100,000-character phase name', { phases: { ['x'.repeat(100_000)]: ok } }, 'phases'],
  ['a phase named __proto__ (an own key)', { phases: own('__proto__', ok) }, 'phases'],
  ['a probe whose check getter throws', { probes: { db: getter('check') } }, 'probes.db.check'],
  ['a probe whose timeout getter throws', { probes: { db: getter('timeoutMs', { check: ok }) } }, 'probes.db.timeoutMs'],
  ['a probes entry whose getter throws', { probes: getter('db') }, 'probes.db'],
  ['a phase whose run getter throws', { phases: { warm: getter('run') } }, 'phases.warm.run'],
  ['a section whose getter throws', getter('health'), 'health'],
  ['a health option whose getter throws', { health: getter('exposeNames') }, 'health.exposeNames'],
  ['additionalPaths.ready "/.."', { health: { additionalPaths: { ready: '/..' } } }, 'health.additionalPaths.ready'],
  ['additionalPaths.ready "/a/./b"', { health: { additionalPaths: { ready: '/a/./b' } } }, 'health.additionalPaths.ready'],
  ['a group additionalPath "/readyz/.."', { probes: { db: ok }, health: { groups: { g: { additionalPath: '/readyz/..' } } } }, 'health.groups.g.additionalPath']
]

for (const [label, options, option] of cases) {
  t.test(`refused, naming the option: ${label}`, async (t) => {
    const err = await refusal(options)
    t.type(err, ReadinessOptionError)
    t.equal((err as ReadinessOptionError).option, option)
    t.ok((err as Error).message.length < 600, 'a bounded message, whatever the name')
  })
}

t.test('a runtime addProbe with a throwing option getter names the option', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { shutdown: false, metrics: false })
  await app.ready()
  t.throws(() => app.readiness.addProbe('y', ok, getter('intervalMs')), { name: 'ReadinessOptionError', option: 'probes.y.intervalMs' })
})

t.test('names probes accept work as phase names, and working getters are read', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const phases = { 'db.migrate:v2': ok, constructor: ok, get cache_warm () { return ok } }
  await app.register(readiness, { phases, shutdown: false, metrics: false, health: { details: 'always', additionalPaths: { ready: '/a.b/readyz' } } })
  const { http } = await listen(app)
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  const body = await (await fetch(`${http}/a.b/readyz`)).json() as { phases: Record<string, unknown> }
  t.same(Object.keys(body.phases).sort(), ['cache_warm', 'constructor', 'db.migrate:v2'])
})
