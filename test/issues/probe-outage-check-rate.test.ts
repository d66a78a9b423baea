import t from 'tap'
import { connect } from 'node:net'
import { Probe } from '../../lib/probes/probe.js'
import { parseProbe } from '../../lib/probes/options.js'
import { downDelayMs, rampEndMs } from '../../lib/probes/schedule.js'
import { freePort } from '../helpers/servers.js'
import { sleep } from '../helpers/net.js'

// Issue 24: the schedule that sees a returning dependency sooner must still protect one that stays
// down: at most 2 checks a second on average over the first 30 s, one per intervalMs or fewer later.
// Counted here over a real outage window (a real TCP connect to a closed port) with a short interval so
// the cap is reached within the test; the bound is the schedule's own (every delay at its shortest: since
// a later check never gets an earlier next one, that sequence has the most checks of any run).

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

/**
 * The most checks the schedule allows in [from, to) ms of down time: every delay at its shortest, checks
 * free, and each timer `earlyMs` early (for real runs: Node starts a timer on the event loop's cached
 * clock, so by performance.now() it can fire up to 1.7 ms early).
 */
function mostChecks (config: { startInterval: number, interval: number }, from: number, to: number, earlyMs = 0): number {
  let n = 0
  for (let at = 0; at < to; at += Math.max(1, downDelayMs(at, config, () => 1) - earlyMs)) if (at >= from) n++
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
  // The observation window: 4.5 s of outage; with interval 200 every delay is at least 200 ms from 3.1 s down.
  t.equal(rampEndMs(config), 3100)
  await sleep(4500)
  await probe.stop()
  t.equal(probe.status, 'fail')
  const early = times.filter((ms) => ms < 2000).length
  const late = times.filter((ms) => ms >= 3500 && ms < 4500).length
  const most = mostChecks(config, 0, 2000, 2)
  t.ok(early >= 2 && early <= most, `${early} checks in the first 2 s (the schedule allows ${most})`)
  // Each delay at least interval, a timer up to 2 ms early: at most 1000 / 198 + 1 checks in a second.
  t.ok(late <= Math.floor(1000 / (config.interval - 2)) + 1, `${late} checks between 3.5 and 4.5 s: at most one per intervalMs (${config.interval} ms) once at the cap`)
})

t.test('with default options, the schedule allows at most 60 checks in the first 30 s and 30 in the second minute', async (t) => {
  const config = { startInterval: 50, interval: 2000 }
  t.ok(mostChecks(config, 0, 30_000) <= 60, `${mostChecks(config, 0, 30_000)} checks at most in the first 30 s`)
  t.ok(mostChecks(config, 0, 30_000, 2) <= 60, `${mostChecks(config, 0, 30_000, 2)} with every timer 2 ms early`)
  t.ok(mostChecks(config, 60_000, 120_000) <= 30, `${mostChecks(config, 60_000, 120_000)} checks at most from 60 to 120 s`)
  // Past a minute every delay is at least intervalMs, whatever the jitter and however long the check took.
  const shortest: number[] = []
  for (let at = 60_000; at < 600_000; at += 997) shortest.push(downDelayMs(at, config, () => 1, 500), downDelayMs(at, config, () => 1))
  t.ok(Math.min(...shortest) >= config.interval, `the shortest delay from 60 s to 10 min down: ${Math.min(...shortest)} ms`)
})
