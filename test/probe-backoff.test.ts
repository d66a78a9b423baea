import t from 'tap'
import { createServer } from 'node:net'
import Fastify from 'fastify'
import readiness, { tcpProbe } from '../index.js'
import { Probe } from '../lib/probes/probe.js'
import { parseProbe } from '../lib/probes/options.js'
import { delayBoundMs, downDelayMs, JITTER } from '../lib/probes/schedule.js'
import { freePort } from './helpers/servers.js'
import { sleep } from './helpers/net.js'

// Issue 19: before its first pass a probe ran every 50 ms (38 connection
// attempts in 2 s against a closed PostgreSQL port). Issue 24: the backoff that
// replaced it grew with the number of attempts and made cold starts 1.6 s late;
// the delay now grows with the time the dependency has been down
// (lib/probes/schedule.ts), so these tests bound against that schedule.

t.test('against a real closed port, attempts back off towards the interval', async (t) => {
  const port = await freePort()
  const tcp = tcpProbe({ port })
  let attempts = 0
  const probe = new Probe('db', parseProbe('probes.db', { check: (signal: AbortSignal) => { attempts++; return tcp(signal) }, startIntervalMs: 50, intervalMs: 2000, timeoutMs: 500 }), () => {})
  probe.start()
  t.teardown(() => probe.stop())
  // An observation window, not a timing assertion: the fixed 50 ms polling made ~38 attempts in it.
  await sleep(2000)
  t.equal(probe.status, 'fail')
  // The most the schedule allows in 2 s (every delay at its shortest, checks taking no time): 23.
  let most = 0
  for (let at = 0; at < 2000; at += downDelayMs(at, { startInterval: 50, interval: 2000 }, () => 1)) most++
  t.ok(attempts >= 2 && attempts <= most, `${attempts} attempts in 2 s (the schedule allows ${most}; the old fixed 50 ms: ~38)`)
})

t.test('the delays grow from startInterval with the time down, never exceed the cap, and are jittered', async (t) => {
  const config = { startInterval: 50, interval: 2000 }
  const fresh = (): Probe => new Probe('db', parseProbe('probes.db', { check: () => {}, startIntervalMs: 50, intervalMs: 2000 }), () => {})
  // Before any failure is recorded the probe is down for 0 ms: the first delay is startInterval, jittered.
  const firsts = Array.from({ length: 50 }, () => fresh().nextDelay())
  t.ok(firsts.every((d) => d >= Math.floor(50 * (1 - JITTER)) && d <= 50), 'the first retry comes after at most startInterval')
  const downFor = [0, 500, 1000, 2500, 5000, 10_000, 20_000, 30_000, 60_000, 600_000]
  const runs = Array.from({ length: 50 }, () => downFor.map((ms) => downDelayMs(ms, config)))
  for (const delays of runs) {
    for (let i = 0; i < delays.length; i++) {
      const bound = delayBoundMs(downFor[i] ?? 0, config)
      const delay = delays[i] ?? 0
      t.ok(delay <= Math.ceil(bound) && delay >= Math.floor(bound * (1 - JITTER)), `after ${downFor[i]} ms down: ${delay} ms, within [0.85, 1] x ${bound}`)
    }
    // The ramp never falls back to fast polling: past the cap, never faster than one check per interval.
    t.ok(delays.slice(-2).every((d) => d >= 2000 && d <= Math.ceil(2000 / (1 - JITTER))), 'at the cap: between interval and interval / 0.85')
  }
  t.ok(new Set(runs.map((d) => d.join(','))).size > 40, 'instances do not retry in lockstep')
  // With no jitter the bound is startInterval + 8 % of the time down: 50, 90, 130, 250, 450, 850, 1650, 2353 (cap).
  t.same(downFor.slice(0, 8).map((ms) => downDelayMs(ms, config, () => 0)), [50, 90, 130, 250, 450, 850, 1650, 2353])
  t.equal(fresh().nextDelay(() => 0), 50)
})

t.test('a dependency that comes up late is seen within the schedule\'s bound + timeout', async (t) => {
  const port = await freePort()
  const interval = 400
  const timeout = 200
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { db: { check: tcpProbe({ port }), startIntervalMs: 20, intervalMs: interval, timeoutMs: timeout } }, health: false })
  await app.ready()
  // Down for a while: 1.5 s puts the delay at 20 + 8 % x 1500 = 140 ms at most.
  const startedAt = Date.now()
  await sleep(1500)
  t.equal(app.readiness.isReady(), false)
  const server = createServer((socket) => socket.destroy())
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const up = Date.now()
  const seen = new Promise<number>((resolve) => app.readiness.once('ready', () => resolve(Date.now() - up)))
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const after = await seen
  // The schedule's bound for the time it was down, plus one check; the rest is slack for a loaded machine.
  const bound = Math.ceil(delayBoundMs(up - startedAt, { startInterval: 20, interval })) + timeout
  t.ok(after <= bound + 1000, `ready ${after} ms after the port opened (bound ${bound} ms + slack)`)
})
