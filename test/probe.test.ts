import t from 'tap'
import { Probe } from '../lib/probes/probe.js'
import { parseProbe } from '../lib/probes/options.js'
import { Readiness } from '../lib/core/readiness.js'
import { sleep, until } from './helpers/net.js'

const silent = { debug () {}, info () {}, warn () {}, error () {} }

function probe (check: (signal: AbortSignal) => unknown, options: Record<string, unknown> = {}, onChange: (p: Probe) => void = () => {}): Probe {
  return new Probe('dep', parseProbe('probes.dep', { check, ...options }), onChange)
}

t.test('a probe that hangs times out on time, its signal fires, and other probes are unaffected', async (t) => {
  let sawAbort: unknown = null
  const hanging = probe((signal) => new Promise(() => {
    signal.addEventListener('abort', () => { sawAbort = signal.reason })
  }), { timeoutMs: 150 })
  const healthy = probe(async () => {}, { timeoutMs: 150 })
  const started = Date.now()
  const healthyDone = healthy.run().then(() => Date.now() - started)
  const status = await hanging.run()
  const hangingMs = Date.now() - started
  t.equal(status, 'fail')
  t.equal(await healthy.run(), 'pass')
  t.ok(await healthyDone < 100, 'the healthy probe finished without waiting for the hanging one')
  t.ok(hangingMs >= 140, `the hanging probe ran until its timeout (${hangingMs} ms)`)
  t.match(hanging.snapshot().lastError, { name: 'ProbeTimeoutError', message: 'probe "dep" timed out after 150 ms' })
  t.match(sawAbort, { name: 'ProbeTimeoutError' }, 'the check saw its AbortSignal fire with the timeout')
})

t.test('a check that ignores its signal still cannot hold the probe past its timeout', async (t) => {
  const slow = probe(() => sleep(400), { timeoutMs: 50 })
  const started = Date.now()
  t.equal(await slow.run(), 'fail')
  t.ok(Date.now() - started < 350, 'the probe gave up at its timeout, not when the check finished')
})

t.test('a probe that throws synchronously counts as failed', async (t) => {
  const thrower = probe(() => { throw new Error('boom') })
  t.equal(await thrower.run(), 'fail')
  t.equal(thrower.snapshot().lastError?.message, 'boom')
  const nonError = probe(() => { throw 'plain string' }) // eslint-disable-line no-throw-literal
  t.equal(await nonError.run(), 'fail')
})

t.test('concurrent runs share one in-flight check (single-flight)', async (t) => {
  let calls = 0
  const p = probe(async () => { calls++; await sleep(50) })
  const results = await Promise.all(Array.from({ length: 100 }, () => p.run()))
  t.equal(calls, 1)
  t.same(new Set(results), new Set(['pass']))
  await p.run()
  t.equal(calls, 2, 'a later run starts a new check')
})

t.test('thresholds: a flapping dependency flips state only after consecutive results', async (t) => {
  const outcomes = [true, false, true, false, false, false, true, true]
  const seen: string[] = []
  const p = probe(async () => { if (outcomes.shift() !== true) throw new Error('down') }, { failureThreshold: 3, successThreshold: 2 }, (p) => seen.push(p.status))
  const statuses: string[] = []
  for (let i = 0; i < 8; i++) statuses.push(await p.run())
  // unknown -> (1st success; needs 2) unknown -> first failure decides fail -> ...
  t.same(statuses, ['unknown', 'fail', 'fail', 'fail', 'fail', 'fail', 'fail', 'pass'])
  t.same(seen, ['fail', 'pass'])
  t.equal(p.snapshot().consecutiveSuccesses, 2)

  const flapping = [true, false, true, false, false, false]
  const q = probe(async () => { if (flapping.shift() !== true) throw new Error('down') }, { failureThreshold: 3 })
  const qs: string[] = []
  for (let i = 0; i < 6; i++) qs.push(await q.run())
  t.same(qs, ['pass', 'pass', 'pass', 'pass', 'pass', 'fail'], 'single failures between successes do not flip a passing probe')
})

t.test('background polling is fast until the first pass, then at the interval', async (t) => {
  let up = false
  let calls = 0
  const p = probe(async () => { calls++; if (!up) throw new Error('down') }, { startIntervalMs: 10, intervalMs: 300 })
  p.start()
  t.teardown(() => p.stop())
  await sleep(300)
  // The schedule checks at 0, ~107 and ~215 ms (its bound starts at 10 / 5 % = 200 ms down), then every
  // 10 ms + 5 % of the time down (about 16 ms here): far more often than the 300 ms interval.
  t.ok(calls >= 3, `polled fast while failing (${calls} calls in 300 ms)`)
  up = true
  const cameUp = Date.now()
  while (!p.passing) await sleep(2)
  // Seen at the next step of the ramp, never later than one interval (the ramp's cap).
  t.ok(Date.now() - cameUp < 300 + 100, 'a dependency that comes up is seen within one interval')
  const after = calls
  await sleep(200)
  t.ok(calls - after <= 1, `polled at the interval once passing (${calls - after} calls in 200 ms)`)
})

// The delay grows with the time down (10 ms + 5 % of it): a dependency that comes up early in an outage is
// seen within tens of milliseconds. (Flipping it after a fixed sleep made this flaky:
// by then a step could be 270 ms.)
t.test('a dependency that comes up early in the ramp is seen within its next step', async (t) => {
  let up = false
  let calls = 0
  const p = probe(async () => { calls++; if (!up) throw new Error('down') }, { startIntervalMs: 10, intervalMs: 300 })
  p.start()
  t.teardown(() => p.stop())
  // Past the first checks (0, ~107, ~215 ms) the steps are 10 ms + 5 % of the time down.
  while (calls < 4) await sleep(1)
  up = true // the next step is at most 10 + 5 % of the time down away (under 20 ms here)
  const cameUp = Date.now()
  while (!p.passing) await sleep(2)
  t.ok(Date.now() - cameUp < 90 + 60, `seen ${Date.now() - cameUp} ms after it came up`)
})

t.test('stop() aborts a run under way and clears the timer', async (t) => {
  let aborted = false
  const p = probe((signal) => new Promise((resolve) => signal.addEventListener('abort', () => { aborted = true; resolve(undefined) })), { timeoutMs: 10_000 })
  p.start()
  await sleep(20)
  p.stop()
  await sleep(10)
  t.equal(aborted, true)
})

t.test('errors are redacted before they are stored: no password, no connection string, no stack', async (t) => {
  const p = probe(async () => {
    const err = new Error('connect ECONNREFUSED postgres://chat:s3cr3t-pw@db.internal:5432/chat?password=s3cr3t-pw token=abc123\n    at Socket.connect (net.js:1:1)')
    throw err
  })
  await p.run()
  const stored = JSON.stringify(p.snapshot())
  t.notMatch(stored, /s3cr3t-pw/)
  t.notMatch(stored, /abc123/)
  t.notMatch(stored, /at Socket/)
  t.match(p.snapshot().lastError?.message, 'postgres://***@db.internal:5432/chat')
})

t.test('the readiness state follows critical and non-critical probes', async (t) => {
  const r = new Readiness(null, silent)
  let redisUp = true
  let analyticsUp = false
  r.addProbe('redis', async () => { if (!redisUp) throw new Error('down') }, { startIntervalMs: 5, intervalMs: 20 })
  r.addProbe('analytics', async () => { if (!analyticsUp) throw new Error('down') }, { critical: false, startIntervalMs: 5, intervalMs: 20 })
  const events: string[] = []
  r.on('ready', () => events.push('ready'))
  r.on('notReady', () => events.push('notReady'))
  r.on('probeChanged', (name, status) => events.push(`${name}:${status}`))
  t.equal(r.isReady(), false, 'not ready before startup')
  r.startProbes()
  await r.waitFor(undefined, { timeoutMs: 1000 })
  t.equal(r.isReady(), true, 'ready with a failing non-critical probe')
  t.equal(r.status().status, 'warn')
  redisUp = false
  await r.waitFor(['analytics'], { timeoutMs: 10 }).catch(() => {})
  while (r.isReady()) await sleep(5)
  t.same(r.missing(), ['redis'])
  analyticsUp = true
  redisUp = true
  await r.waitFor(undefined, { timeoutMs: 1000 })
  while (r.degraded) await sleep(5)
  t.equal(r.status().status, 'pass')
  r.close()
  t.match(events, ['redis:pass', 'ready'])
  t.ok(events.includes('notReady'))
})

t.test('addProbe after startup polls at once and counts towards readiness', async (t) => {
  const r = new Readiness(null, silent)
  r.startProbes()
  t.equal(r.isReady(), true)
  let up = false
  r.addProbe('late', async () => { if (!up) throw new Error('down') }, { startIntervalMs: 5 })
  t.equal(r.isReady(), true, 'a new probe does not un-ready the app before its first verdict')
  await until(() => !r.isReady())
  t.pass('its first failure does')
  up = true
  await r.waitFor(undefined, { timeoutMs: 1000 })
  t.equal(r.isReady(), true)
  t.throws(() => r.addProbe('late', async () => {}), /"late" is already a probe/)
  r.close()
})
