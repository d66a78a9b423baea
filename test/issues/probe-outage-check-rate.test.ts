import t from 'tap'
import { connect } from 'node:net'
import { Probe } from '../../lib/probes/probe.js'
import { parseProbe } from '../../lib/probes/options.js'
import { downDelayMs } from '../../lib/probes/schedule.js'
import { freePort } from '../helpers/servers.js'
import { sleep } from '../helpers/net.js'

// Issue 24: the schedule that sees a returning dependency sooner must still protect one that stays
// down: at most 2 checks a second on average over the first 30 s, one per intervalMs or fewer later.
// Counted here over a real outage window (a real TCP connect to a closed port) with a short interval so
// the cap is reached within the test; the bound is the schedule's own (every delay at its shortest).

function closedPortCheck (port: number, count: () => void) {
  return (signal: AbortSignal) => new Promise<void>((resolve, reject) => {
    count()
    const socket = connect(port, '127.0.0.1')
    const done = (err?: Error): void => { socket.destroy(); if (err === undefined) resolve(); else reject(err) }
    socket.once('connect', () => done())
    socket.once('error', (err) => done(err))
    signal.addEventListener('abort', () => done(new Error('aborted')), { once: true })
  })
}

/** The most checks the schedule allows in [from, to) ms of down time (every delay at its shortest, checks free). */
function mostChecks (config: { startInterval: number, interval: number }, from: number, to: number): number {
  let n = 0
  for (let at = 0; at < to; at += downDelayMs(at, config, () => 1)) if (at >= from) n++
  return n
}

t.test('a dependency that stays down is checked no more often than the schedule allows', async (t) => {
  const port = await freePort()
  const config = { startInterval: 50, interval: 200 }
  const times: number[] = []
  const started = performance.now()
  const probe = new Probe('db', parseProbe('probes.db', { check: closedPortCheck(port, () => times.push(performance.now() - started)), startIntervalMs: config.startInterval, intervalMs: config.interval, timeoutMs: 500 }), () => {})
  probe.start()
  t.teardown(() => probe.stop())
  // The observation window: 4 s of outage; the schedule with interval 200 reaches its cap after 2.3 s.
  await sleep(4000)
  await probe.stop()
  t.equal(probe.status, 'fail')
  const early = times.filter((ms) => ms < 2000).length
  const late = times.filter((ms) => ms >= 3000 && ms < 4000).length
  t.ok(early >= 2 && early <= mostChecks(config, 0, 2000), `${early} checks in the first 2 s (the schedule allows ${mostChecks(config, 0, 2000)})`)
  t.ok(late <= Math.ceil(1000 / config.interval) + 1, `${late} checks between 3 and 4 s: at most one per intervalMs (${config.interval} ms) once at the cap`)
})

t.test('with default options, the schedule allows at most 60 checks in the first 30 s and 30 in the second minute', async (t) => {
  const config = { startInterval: 50, interval: 2000 }
  t.ok(mostChecks(config, 0, 30_000) <= 60, `${mostChecks(config, 0, 30_000)} checks at most in the first 30 s`)
  t.ok(mostChecks(config, 60_000, 120_000) <= 30, `${mostChecks(config, 60_000, 120_000)} checks at most from 60 to 120 s`)
})
