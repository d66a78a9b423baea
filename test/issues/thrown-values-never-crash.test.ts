import t from 'tap'
import { Probe } from '../../lib/probes/probe.js'
import { parseProbe } from '../../lib/probes/options.js'
import { redactError } from '../../lib/redact/index.js'
import { toError } from '../../lib/common/errors.js'

// Issue 16: 9 of 14 non-Error thrown values crashed the process on the first run.
function throwing (): Array<[string, () => unknown]> {
  const getterThrows = (key: string): Error => {
    const e = new Error('x')
    Object.defineProperty(e, key, { get () { throw new Error(`${key} getter`) } })
    return e
  }
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  return [
    ['Object.create(null)', () => Object.create(null)],
    ['a Proxy whose every trap throws', () => new Proxy({}, { get () { throw new Error('trap') }, getPrototypeOf () { throw new Error('trap') }, ownKeys () { throw new Error('trap') } })],
    ['a revoked Proxy', () => revoked.proxy],
    ['an object whose toString throws', () => ({ toString () { throw new Error('no') } })],
    ['an Error whose message getter throws', () => getterThrows('message')],
    ['an Error whose code getter throws', () => getterThrows('code')],
    ['an Error whose name getter throws', () => getterThrows('name')],
    ['an Error whose message is not a string', () => Object.assign(new Error('x'), { message: { nested: true } })],
    ['a Proxy of an Error', () => new Proxy(new Error('x'), { get () { throw new Error('trap') } })],
    ['a symbol', () => Symbol('s')],
    ['undefined', () => undefined],
    ['null', () => null],
    ['a bigint', () => 10n],
    ['a function', () => () => {}]
  ]
}

t.test('every thrown or rejected value makes the probe fail with a readable, redacted error; nothing crashes', async (t) => {
  for (const [label, make] of throwing()) {
    for (const how of ['throw', 'reject'] as const) {
      const changes: string[] = []
      const check = how === 'throw' ? () => { throw make() } : async () => { throw make() }
      // The listener reads the failure the way the readiness log line does.
      const probe = new Probe('dep', parseProbe('probes.dep', check), (p) => changes.push(p.status), (_p, err) => {
        void `${err.name} ${err.message} ${String((err as { code?: unknown }).code)}`
      })
      t.equal(await probe.run(), 'fail', `${label} (${how})`)
      const error = probe.snapshot().lastError
      t.type(error?.message, 'string', `${label} (${how}): message is a string`)
      t.type(error?.name, 'string')
      t.doesNotThrow(() => JSON.stringify(probe.snapshot()))
      t.same(changes, ['fail'])
    }
  }
})

t.test('toError and redactError never throw and never call a getter twice unguarded', async (t) => {
  for (const [label, make] of throwing()) {
    const value = make()
    t.doesNotThrow(() => toError(value), label)
    t.doesNotThrow(() => redactError(value), label)
    const error = toError(value)
    t.type(error.message, 'string')
  }
})

t.test('a polling probe whose listener throws keeps polling and raises no unhandled rejection', async (t) => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  let runs = 0
  const probe = new Probe('dep', parseProbe('probes.dep', { check: () => { runs++; throw Object.create(null) }, startIntervalMs: 5, intervalMs: 5 }), () => { throw new Error('listener bug') })
  probe.start()
  t.teardown(() => probe.stop())
  while (runs < 5) await new Promise((resolve) => setTimeout(resolve, 5))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [], 'no unhandled rejection')
  t.ok(runs >= 5, 'polling went on after the listener threw')
})

t.test('a startup phase that throws a hostile value fails the phase, never the process', async (t) => {
  const { default: Fastify } = await import('fastify')
  const { default: readiness } = await import('../../index.js')
  for (const [label, make] of throwing()) {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(readiness, { phases: { a: { run: () => { throw make() }, timeoutMs: 2000 } }, health: false })
    await app.ready()
    await new Promise<void>((resolve) => {
      if (app.readiness.startupState === 'failed') resolve()
      else app.readiness.once('phaseFailed', () => resolve())
    })
    const startup = app.readiness.status().startup
    t.equal(startup.state, 'failed', label)
    t.type(startup.error?.message, 'string')
    t.doesNotThrow(() => JSON.stringify(app.readiness.status()))
  }
})

t.test('a check whose close() throws does not fail app.close()', async (t) => {
  const { default: Fastify } = await import('fastify')
  const { default: readiness } = await import('../../index.js')
  const check = Object.assign(async () => {}, { close: async () => { throw Object.create(null) } })
  const app = Fastify()
  await app.register(readiness, { probes: { db: check }, health: false })
  await app.ready()
  await t.resolves(app.close())
})
