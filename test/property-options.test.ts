import t from 'tap'
import fc from 'fast-check'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness, { ReadinessOptionError, type FastifyReadinessOptions } from '../index.js'

/**
 * Arbitrary option objects for every plugin of the suite (issue 16: 27 of 110
 * wrong values were accepted silently). A mix of valid values, boundary values
 * and garbage per key. Property: registration either works (ready() resolves,
 * /health/live answers 200, /health/ready answers 200 or 503, close()
 * resolves) or throws a ReadinessOptionError whose `option` names a path of
 * the options given.
 */
const ok = async (): Promise<void> => {}
const garbage = fc.oneof(
  fc.anything({ maxDepth: 1, withNullPrototype: true, withBigInt: true }),
  fc.constantFrom(null, NaN, Infinity, -Infinity, -0, '', ' ', [], {}, () => {}, Symbol('s'), 10n)
)
const duration = fc.oneof(
  fc.constantFrom(1, 5, 50, 1000, 1.5, 2_147_483_647, 2_147_483_648, 0, -1, 0.5, 1e300, Number.MAX_VALUE, '100'),
  fc.integer({ min: -10, max: 5000 }),
  fc.double({ noNaN: false }),
  garbage
)
const integer = fc.oneof(fc.constantFrom(0, 1, 2, 3, 1000, 1001, -1, 1.5, Number.MAX_VALUE, 1e300, '3', Number.MAX_SAFE_INTEGER), fc.integer(), garbage)
const bool = fc.oneof(fc.boolean(), garbage)
const name = fc.oneof(
  fc.constantFrom('db', 'db.primary', 'cache:1', 'кэш', '_x', 'a b', 'a/b', 'x\u0000', 'x\ny', '', ' db', 'db ', '__proto__', 'constructor', 'toString', 'x'.repeat(101)),
  fc.string({ maxLength: 12 })
)
const validName = fc.constantFrom('db', 'cache', 'search', 'db.primary', 'q:1')
const extra = fc.option(fc.constant({ bogus: 1 }), { nil: undefined })

const probeDefinition = fc.oneof(
  fc.constant(ok),
  fc.record({
    check: fc.oneof({ weight: 5, arbitrary: fc.constant(ok) }, garbage),
    timeoutMs: duration,
    intervalMs: duration,
    startIntervalMs: duration,
    critical: bool,
    failureThreshold: integer,
    successThreshold: integer
  }, { requiredKeys: [] }),
  fc.constant('proto-probe'),
  garbage
)
const probes = fc.oneof(
  fc.dictionary(name, probeDefinition, { maxKeys: 3 }),
  fc.constant('proto-probes'),
  garbage
)
const phases = fc.dictionary(validName, fc.oneof(
  fc.constant(ok),
  fc.record({ run: fc.constant(ok), timeoutMs: duration }, { requiredKeys: ['run'] })
), { maxKeys: 2 })
const health = fc.record({
  prefix: fc.oneof(fc.constantFrom('/health', '/', '/_internal/h-1.v2~', '/a?b', '/health#x', '/x/', '//x', '/:id', '/*', '/a b', '/a/../b', '/h%41', 'health'), fc.string({ maxLength: 10 }).map((s) => `/${s}`), garbage),
  exposeNames: bool,
  format: fc.oneof(fc.constantFrom('json', 'health+json', 'xml'), garbage),
  cors: fc.oneof(fc.constantFrom(true, false, 'https://a.example.com', 'http://localhost:3000', ['https://a.example.com', 'https://[::1]:8443'], 'https://a.example.com/x', 'https://a b', 'https://a:70000', [], 'null', 'https://u:p@a.com'), garbage),
  groups: fc.oneof(fc.dictionary(fc.oneof(validName, name), fc.array(validName, { maxLength: 2 }), { maxKeys: 2 }), garbage),
  details: fc.constantFrom('never', 'always', 'sometimes', () => true)
}, { requiredKeys: [] })
const startup = fc.record({
  mode: fc.oneof(fc.constantFrom('background', 'blocking', 'eager'), garbage),
  timeoutMs: duration,
  margin: fc.oneof(fc.constantFrom(0, 0.5, 10, 10.5, -1), fc.double(), garbage),
  environment: name
}, { requiredKeys: [] })

// The gate (plugins/websocket-gate.ts) and pressure are checked with values
// their owners' validation handles; the values they still accept silently or
// crash on are listed in the branch report (maxHeld: 0, a closeReason with a
// lone surrogate, a maxEventLoopUtilization whose String() throws).
const websocketOptions = fc.record({
  mode: fc.oneof(fc.constantFrom('hold', 'reject', 'accept-then-close', 'queue'), fc.string({ maxLength: 5 })),
  holdTimeoutMs: fc.oneof(fc.constantFrom(1, 100, 2_147_483_648, -1, 0.5), fc.integer({ min: 1, max: 10_000 })),
  maxHeld: fc.oneof(fc.constantFrom(1, 10, -1, 1.5, '3'), fc.integer({ min: 1, max: 10_000 })),
  drainDelay: fc.constantFrom(0, 10, -1),
  drainTimeoutMs: fc.constantFrom(1, 5000, 0, 'x'),
  closeCode: fc.constantFrom(1001, 1012, 1011, '1012'),
  closeReason: fc.oneof(fc.string({ maxLength: 20 }).filter((s) => !/[\ud800-\udfff]/.test(s)), fc.constant('x'.repeat(124)))
}, { requiredKeys: [] })
const pressure = fc.record({
  maxEventLoopDelay: fc.oneof(fc.constantFrom(0, 1000, -1, 2_147_483_648), fc.integer({ min: 1, max: 5000 })),
  maxEventLoopUtilization: fc.constantFrom(0, 0.98, 1, 1.5, -1, NaN, '0.9'),
  maxHeapUsedBytes: fc.constantFrom(0, 1e12, -1, 1.5),
  maxRssBytes: fc.constantFrom(0, 1e12, -1),
  sampleInterval: fc.constantFrom(1000, 5, 0, -1),
  effect: fc.constantFrom('fail', 'warn', 'explode')
}, { requiredKeys: [] })

const SECTIONS = new Set(['probes', 'phases', 'health', 'startup', 'websocket', 'pressure', 'bogus', 'READINESS_STARTUP_BUDGET_MS'])

// One key of a working configuration replaced by an arbitrary value: a refusal
// must name exactly that key's path (or a path inside it).
const BASE = (): Record<string, any> => ({
  probes: { db: { check: ok, timeoutMs: 1000 } },
  phases: { warm: { run: ok, timeoutMs: 1000 } },
  health: { prefix: '/health' },
  startup: {},
  websocket: {}
})
type Mutation = { path: string[], value: unknown }
const anyValue = (specific: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ weight: 3, arbitrary: specific }, garbage)
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  ...(['timeoutMs', 'intervalMs', 'startIntervalMs'] as const).map((k) => anyValue(duration).map((value) => ({ path: ['probes', 'db', k], value }))),
  ...(['failureThreshold', 'successThreshold'] as const).map((k) => anyValue(integer).map((value) => ({ path: ['probes', 'db', k], value }))),
  bool.map((value) => ({ path: ['probes', 'db', 'critical'], value })),
  garbage.map((value) => ({ path: ['probes', 'db', 'check'], value })),
  anyValue(probeDefinition).map((value) => ({ path: ['probes', 'db'], value })),
  name.map((value) => ({ path: ['probes', '<name>'], value })),
  probes.map((value) => ({ path: ['probes'], value })),
  health.chain((h) => fc.constantFrom(...Object.keys(h).concat('prefix')).map((key) => ({ path: ['health', key], value: (h as Record<string, unknown>)[key] }))),
  startup.chain((h) => fc.constantFrom(...Object.keys(h).concat('mode')).map((key) => ({ path: ['startup', key], value: (h as Record<string, unknown>)[key] }))),
  anyValue(duration).map((value) => ({ path: ['phases', 'warm', 'timeoutMs'], value })),
  websocketOptions.chain((h) => fc.constantFrom(...Object.keys(h).concat('mode')).map((key) => ({ path: ['websocket', key], value: (h as Record<string, unknown>)[key] }))),
  pressure.chain((h) => fc.constantFrom(...Object.keys(h).concat('effect')).map((key) => ({ path: ['pressure', key], value: (h as Record<string, unknown>)[key] ?? 'fail' }))),
  fc.constant<Mutation>({ path: ['bogus'], value: 1 })
)

function apply ({ path, value }: Mutation): { opts: Record<string, any>, expected: string } {
  const opts = BASE()
  if (path[0] === 'pressure') opts.pressure = { maxEventLoopDelay: 1000 }
  if (path[1] === '<name>') {
    opts.probes = Object.defineProperty({}, value as string, { value: ok, enumerable: true, configurable: true, writable: true })
    return { opts, expected: 'probes' }
  }
  let target: Record<string, any> = opts
  for (const key of path.slice(0, -1)) target = target[key] as Record<string, any>
  const last = path[path.length - 1] as string
  const materialized = value === 'proto-probe' ? { __proto__: { check: ok } } : value === 'proto-probes' ? { __proto__: ok } : value
  Object.defineProperty(target, last, { value: materialized, enumerable: true, configurable: true, writable: true })
  return { opts, expected: path.join('.') }
}

/** Turns markers into values fast-check must not build itself (it inspects what it generates). */
function materialize (spec: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...spec }
  delete out.extra
  if (spec.extra !== undefined) Object.assign(out, spec.extra)
  if (out.probes === 'proto-probes') out.probes = { __proto__: ok }
  else if (typeof out.probes === 'object' && out.probes !== null && !Array.isArray(out.probes) && Object.getPrototypeOf(out.probes) === Object.prototype) {
    const copy: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(out.probes as Record<string, unknown>)) {
      Object.defineProperty(copy, key, { value: value === 'proto-probe' ? { __proto__: { check: ok } } : value, enumerable: true, configurable: true, writable: true })
    }
    out.probes = copy
  }
  return out
}

async function tryOptions (opts: Record<string, unknown>): Promise<{ err: unknown, app: ReturnType<typeof Fastify> }> {
  const app = Fastify({ pluginTimeout: 20_000 })
  try {
    await app.register(websocket)
    await app.register(readiness, opts as FastifyReadinessOptions)
    await app.ready()
    return { err: null, app }
  } catch (err) {
    await app.close().catch(() => {})
    return { err, app }
  }
}

async function works (app: ReturnType<typeof Fastify>, opts: Record<string, any>): Promise<void> {
  try {
    if (opts.health !== false) {
      const prefix = typeof opts.health?.prefix === 'string' ? opts.health.prefix as string : '/health'
      const base = prefix === '/' ? '' : prefix
      const live = await app.inject(`${base}/live`)
      if (live.statusCode !== 200) throw new Error(`live answered ${live.statusCode}`)
      const ready = await app.inject(`${base}/ready`)
      if (ready.statusCode !== 200 && ready.statusCode !== 503) throw new Error(`ready answered ${ready.statusCode}: ${ready.body}`)
    }
    JSON.stringify(app.readiness.status())
  } finally {
    await app.close()
  }
}

t.test('a working configuration with one key set to an arbitrary value is refused naming that key, or works', async (t) => {
  let accepted = 0
  let refused = 0
  await fc.assert(fc.asyncProperty(mutation, async (m) => {
    const { opts, expected } = apply(m)
    const { err, app } = await tryOptions(opts)
    if (err === null) {
      await works(app, opts)
      accepted++
      return
    }
    if (!(err instanceof ReadinessOptionError)) throw new Error(`not a ReadinessOptionError: ${String((err as Error)?.stack ?? err)}`)
    if (err.option !== expected && !err.option.startsWith(`${expected}.`)) throw new Error(`refused ${expected} but named "${err.option}": ${err.message}`)
    if (!err.message.includes(`option "${err.option}"`)) throw new Error(`message does not name the path: ${err.message}`)
    refused++
  }), { numRuns: 300 })
  t.ok(accepted > 0, `${accepted} accepted`)
  t.ok(refused > 0, `${refused} refused`)
})

t.test('whole option objects of arbitrary values are refused naming a section, or work', async (t) => {
  const options = fc.record({ probes, phases, health: fc.oneof({ weight: 4, arbitrary: health }, fc.constant(false), garbage), startup, websocket: fc.oneof(websocketOptions, fc.constant(false)), extra }, { requiredKeys: [] })
  await fc.assert(fc.asyncProperty(options, async (spec) => {
    const opts = materialize(spec as Record<string, unknown>)
    const { err, app } = await tryOptions(opts)
    if (err === null) { await works(app, opts); return }
    if (!(err instanceof ReadinessOptionError)) throw new Error(`not a ReadinessOptionError: ${String((err as Error)?.stack ?? err)}`)
    if (!SECTIONS.has(err.option.split('.')[0] ?? '')) throw new Error(`option path "${err.option}" names no section`)
  }), { numRuns: 100 })
  t.pass()
})
