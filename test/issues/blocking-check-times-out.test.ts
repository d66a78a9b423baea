import t from 'tap'
import { Probe } from '../../lib/probes/probe.js'
import { parseProbe } from '../../lib/probes/options.js'

// Issue 16: a synchronous check that blocked 2 s against `timeout: 1000` passed.
t.test('a synchronous check that blocks longer than its timeout counts as a timeout failure', async (t) => {
  const probe = new Probe('cpu', parseProbe('probes.cpu', {
    timeoutMs: 50,
    check: () => { const until = performance.now() + 200; while (performance.now() < until); }
  }), () => {})
  t.equal(await probe.run(), 'fail')
  t.match(probe.snapshot().lastError, { name: 'ProbeTimeoutError', message: /timed out after 50 ms \(the check blocked for \d+ ms\)/ })
})

t.test('a quick synchronous check still passes', async (t) => {
  const probe = new Probe('cpu', parseProbe('probes.cpu', { timeoutMs: 1000, check: () => 1 + 1 }), () => {})
  t.equal(await probe.run(), 'pass')
})
