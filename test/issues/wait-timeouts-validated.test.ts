import t, { type Test } from 'tap'
import { WaitTimeoutError } from '../../index.js'
import { suiteOnly } from '../helpers/app.js'
import { sleep } from '../helpers/net.js'

// Audit: waitFor/waitForPhase took any timeout. Infinity, 2**31, 1e300, NaN
// and -5 rejected with a WaitTimeoutError within milliseconds (Node turned
// them into 1 ms, with a TimeoutOverflowWarning); '100' was coerced.

async function pendingApp (t: Test) {
  const app = await suiteOnly(t, { phases: { p: { run: () => new Promise(() => {}), timeoutMs: 60_000 } } })
  await app.ready()
  return app
}

t.test('a timeout a timer cannot honour is refused, naming the argument', async (t) => {
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(w.name) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const app = await pendingApp(t)
  for (const timeout of [2 ** 31, 1e300, NaN, -5, '100', -Infinity, null]) {
    const options = { timeoutMs: timeout } as unknown as { timeoutMs: number }
    await t.rejects(app.readiness.waitFor(undefined, options), { name: 'ReadinessOptionError', option: 'waitFor.timeoutMs' }, `waitFor ${String(timeout)}`)
    await t.rejects(app.readiness.waitForPhase('p', options), { name: 'ReadinessOptionError', option: 'waitForPhase.timeoutMs' }, `waitForPhase ${String(timeout)}`)
  }
  await sleep(10)
  t.notOk(warnings.includes('TimeoutOverflowWarning'), 'no TimeoutOverflowWarning')
})

t.test('Infinity and no timeout wait without a bound; a valid timeout still times out', async (t) => {
  const app = await pendingApp(t)
  const outcome = (p: Promise<void>): Promise<string> => Promise.race([p.then(() => 'resolved', (e: Error) => e.name), sleep(150).then(() => 'waiting')])
  t.equal(await outcome(app.readiness.waitFor(undefined, { timeoutMs: Infinity })), 'waiting')
  t.equal(await outcome(app.readiness.waitForPhase('p')), 'waiting')
  await t.rejects(app.readiness.waitForPhase('p', { timeoutMs: 30 }), WaitTimeoutError)
  await t.rejects(app.readiness.waitFor(undefined, { timeoutMs: 0 }), WaitTimeoutError, '0 means "now or never"')
  await t.resolves(app.readiness.waitFor([], { timeoutMs: 2 ** 31 - 1 }), 'the largest timer delay is fine')
})
