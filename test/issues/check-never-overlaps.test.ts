import t from 'tap'
import { Probe } from '../../lib/probes/probe.js'
import { parseProbe } from '../../lib/probes/options.js'

// Issue 16: a check that ignores its signal ran up to 3 times at once (the docs say a run never overlaps itself).
t.test('a check that ignores its signal never runs twice at once; runs stay bounded by the timeout', async (t) => {
  let running = 0
  let maxRunning = 0
  let calls = 0
  const finish: Array<() => void> = []
  const probe = new Probe('stuck', parseProbe('probes.stuck', {
    timeoutMs: 40,
    startIntervalMs: 5,
    intervalMs: 5,
    check: () => {
      calls++
      running++
      maxRunning = Math.max(maxRunning, running)
      return new Promise<void>((resolve) => finish.push(() => { running--; resolve() }))
    }
  }), () => {})
  t.equal(await probe.run(), 'fail', 'the first run times out')
  t.equal(await probe.run(), 'fail', 'the second run waits for the first check, then times out')
  // The check's first call never settles until finish() below: both runs ended without it.
  t.equal(running, 1, 'each run is bounded by its timeout: both ended while the first call was still pending')
  t.equal(calls, 1, 'the check was not started again while its first call was pending')
  t.match(probe.snapshot().lastError?.message, /previous check, which ignored the abort signal, has not finished/)
  finish.shift()?.()
  t.equal(await probe.run(), 'fail', 'the check runs again once the previous call settled (and is stuck again)')
  t.equal(calls, 2)
  t.equal(maxRunning, 1, 'never two calls at once')
  for (const f of finish) f()
})

t.test('while polling, a check that ignores its signal still never overlaps', async (t) => {
  let running = 0
  let maxRunning = 0
  let calls = 0
  const probe = new Probe('slow', parseProbe('probes.slow', {
    timeoutMs: 20,
    startIntervalMs: 1,
    intervalMs: 1,
    check: async () => {
      calls++
      running++
      maxRunning = Math.max(maxRunning, running)
      await new Promise((resolve) => setTimeout(resolve, 100))
      running--
    }
  }), () => {})
  probe.start()
  while (calls < 3) await new Promise((resolve) => setTimeout(resolve, 20))
  await probe.stop()
  t.equal(maxRunning, 1)
})
