import t from 'tap'
import fc from 'fast-check'
import { Probe } from '../lib/probes/probe.js'
import { parseProbe } from '../lib/probes/options.js'
import { redactError, MAX_LENGTH } from '../lib/redact/index.js'
import { toError } from '../lib/common/errors.js'

/**
 * Whatever a check throws or rejects with, or resolves with, the probe records
 * a verdict, never crashes, keeps a bounded message and a snapshot that
 * serializes (issue 16). Hostile shapes on top of fc.anything(): null
 * prototypes, Proxies whose traps throw, throwing toString/valueOf, Errors with
 * throwing or non-string getters.
 */
const boom = (): never => { throw new Error('hostile') }

const hostileObject = fc.record({
  base: fc.constantFrom('plain', 'null-proto', 'error', 'type-error', 'array'),
  message: fc.oneof(fc.string({ maxLength: 200 }), fc.anything({ maxDepth: 1 }), fc.constant('getter-throws')),
  name: fc.oneof(fc.string({ maxLength: 30 }), fc.anything({ maxDepth: 1 }), fc.constant('getter-throws')),
  code: fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.anything({ maxDepth: 1 }), fc.constant('getter-throws')),
  toStringThrows: fc.boolean(),
  proxy: fc.constantFrom('none', 'throwing', 'revoked', 'transparent')
// Built inside a thunk: fast-check itself must not touch a throwing Proxy.
}).map(({ base, message, name, code, toStringThrows, proxy }) => () => {
  const target: Record<string, unknown> = base === 'null-proto'
    ? Object.create(null) as Record<string, unknown>
    : base === 'error'
      ? new Error('e') as unknown as Record<string, unknown>
      : base === 'type-error'
        ? new TypeError('t') as unknown as Record<string, unknown>
        : base === 'array' ? [] as unknown as Record<string, unknown> : {}
  const define = (key: string, value: unknown): void => {
    Object.defineProperty(target, key, value === 'getter-throws' ? { get: boom, configurable: true } : { value, configurable: true, writable: true })
  }
  define('message', message)
  define('name', name)
  define('code', code)
  if (toStringThrows) { define('toString', boom); define('valueOf', boom) }
  if (proxy === 'throwing') return new Proxy(target, { get: boom, getPrototypeOf: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, has: boom })
  if (proxy === 'revoked') { const r = Proxy.revocable(target, {}); r.revoke(); return r.proxy }
  if (proxy === 'transparent') return new Proxy(target, {})
  return target
})

const thrown = fc.oneof(
  fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true, withSet: true, withTypedArray: true, withDate: true }).map((v) => () => v),
  hostileObject
)

t.test('toError and redactError never throw and always give bounded strings', async (t) => {
  fc.assert(fc.property(thrown, (make) => {
    const value = make()
    const error = toError(value)
    if (typeof error.message !== 'string' || typeof error.name !== 'string') return false
    const redacted = redactError(make())
    return typeof redacted.message === 'string' && redacted.message.length <= MAX_LENGTH + 1 &&
      typeof redacted.name === 'string' && redacted.name.length <= 101 &&
      (redacted.code === undefined || (typeof redacted.code === 'string' && redacted.code.length <= 101))
  }), { numRuns: 1000 })
  t.pass('1000 arbitrary thrown values')
})

t.test('a probe whose check throws, rejects or resolves with anything records a verdict and a snapshot that serializes', async (t) => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  await fc.assert(fc.asyncProperty(thrown, fc.constantFrom('throw', 'reject', 'resolve'), async (make, how) => {
    const check = how === 'throw' ? () => { throw make() } : how === 'reject' ? async () => { throw make() } : async () => make()
    const probe = new Probe('dep', parseProbe('probes.dep', { check, timeoutMs: 1000 }), () => {}, (_p, err) => {
      // What the readiness log line reads of a failure.
      void `${err.name}:${err.message}:${String((err as { code?: unknown }).code)}`
    })
    const status = await probe.run()
    const snapshot = probe.snapshot()
    const json = JSON.stringify(snapshot)
    if (how !== 'resolve' && status !== 'fail') return false
    if (status === 'fail' && (snapshot.lastError === null || snapshot.lastError.message.length > MAX_LENGTH + 1)) return false
    return ['pass', 'warn', 'fail'].includes(status) && json.length < 64 * 1024
  }), { numRuns: 400 })
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [], 'no unhandled rejection')
})

t.test('a check that resolves with an arbitrary result object gives a bounded, JSON-safe snapshot', async (t) => {
  const result = fc.record({
    status: fc.oneof(fc.constantFrom('pass', 'warn', 'fail'), fc.anything({ maxDepth: 0 })),
    observedValue: fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, maxDepth: 6 }),
    observedUnit: fc.oneof(fc.string({ maxLength: 100 }), fc.anything({ maxDepth: 0 })),
    details: fc.oneof(fc.dictionary(fc.string({ maxLength: 20 }), fc.anything({ withBigInt: true, maxDepth: 6 }), { maxKeys: 60 }).map((v) => () => v), hostileObject),
    message: fc.oneof(fc.string({ maxLength: 500 }), fc.anything({ maxDepth: 0 }))
  }, { requiredKeys: [] })
  await fc.assert(fc.asyncProperty(result, async (spec) => {
    const value = { ...spec, ...(spec.details === undefined ? {} : { details: spec.details() }) }
    const probe = new Probe('dep', parseProbe('probes.dep', async () => value), () => {})
    const status = await probe.run()
    const snapshot = probe.snapshot()
    const json = JSON.stringify(snapshot)
    if (value.status === 'warn' && status !== 'warn') return false
    if (value.status === 'fail' && status !== 'fail') return false
    if (snapshot.observedUnit !== undefined && (typeof snapshot.observedUnit !== 'string' || snapshot.observedUnit.length > 32)) return false
    // Round-trips: nothing in it depends on getters, BigInts or cycles.
    return JSON.stringify(JSON.parse(json)) === json && json.length < 64 * 1024
  }), { numRuns: 300 })
  t.pass('300 arbitrary results')
})
