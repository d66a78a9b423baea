import t from 'tap'
import { createServer } from 'node:net'
import Fastify from 'fastify'
import readiness, { tcpProbe } from '../index.js'
import { Probe } from '../lib/probes/probe.js'
import { parseProbe } from '../lib/probes/options.js'
import { CAP_JITTER, delayBoundMs, downDelayMs, JITTER, lagBoundMs, rampEndMs } from '../lib/probes/schedule.js'
import { freePort } from './helpers/servers.js'
import { sleep } from './helpers/net.js'

// Issue 19: before its first pass a probe ran every 50 ms (38 connection
// attempts in 2 s against a closed PostgreSQL port). Issue 24: the backoff that
// replaced it grew with the number of attempts and made cold starts 1.6 s late;
// the gaps now grow with the time the dependency has been down
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
  // The most the schedule allows in 2 s: every delay at its shortest, checks taking no time, and each
  // timer 2 ms early (Node starts it on the event loop's cached clock: up to 1.7 ms early measured by
  // performance.now()). 11: at 0, ~530 ms, ~1075 ms, then every 100-150 ms.
  let most = 0
  for (let at = 0; at < 2000; at += Math.max(1, downDelayMs(at, { startInterval: 50, interval: 2000 }, () => 1) - 2)) most++
  t.ok(attempts >= 2 && attempts <= most, `${attempts} attempts in 2 s (the schedule allows ${most}; the old fixed 50 ms: ~38)`)
})

t.test('the delays grow with the time down, stay within their bound, and are jittered', async (t) => {
  const config = { startInterval: 50, interval: 2000 }
  const fresh = (): Probe => new Probe('db', parseProbe('probes.db', { check: () => {}, startIntervalMs: 50, intervalMs: 2000 }), () => {})
  // Before any run the probe is down for 0 ms: the first retry comes halfway to the 1095 ms deadline, jittered.
  const firsts = Array.from({ length: 50 }, () => fresh().nextDelay())
  t.ok(firsts.every((d) => d >= Math.floor(547.5 * (1 - JITTER)) && d <= 547.5), 'the first retry comes after at most ~548 ms')
  const downFor = [0, 500, 1000, 2500, 5000, 10_000, 20_000, 30_000, 60_000, 600_000]
  const runs = Array.from({ length: 50 }, () => downFor.map((ms) => downDelayMs(ms, config)))
  for (const delays of runs) {
    for (let i = 0; i < delays.length - 2; i++) {
      const bound = delayBoundMs(downFor[i] ?? 0, config)
      const delay = delays[i] ?? 0
      t.ok(delay <= bound && delay >= Math.floor(bound * (1 - JITTER)), `after ${downFor[i]} ms down: ${delay} ms, within [0.98, 1] x ${bound}`)
    }
    // Past the ramp, never faster than one check per interval; the jitter goes upward there.
    t.ok(delays.slice(-2).every((d) => d >= 2000 && d <= 2000 * (1 + CAP_JITTER)), 'at the cap: between interval and 1.15 x interval')
  }
  t.ok(new Set(runs.map((d) => d.join(','))).size > 40, 'instances do not retry in lockstep')
  // With no jitter: halfway to 1095 ms, to 1095 ms, then 50 + 5 % of the time down - 5 ms, then the cap.
  t.same(downFor.slice(0, 9).map((ms) => downDelayMs(ms, config, () => 0)), [547, 595, 95, 170, 295, 545, 1045, 1545, 2300])
  t.equal(rampEndMs(config), 39_100, 'every delay is at least interval from 39.1 s down')
  // What the docs quote: seen within 50 ms + 5 % of T, 2305 ms at most.
  t.same([1000, 2500, 5000, 10_000, 30_000, 60_000].map((ms) => lagBoundMs(ms, config)), [100, 175, 300, 550, 1550, 2305])
  t.equal(fresh().nextDelay(() => 0), 547)
})

t.test('a check that ran long takes its time out of the next delay, except at the cap', async (t) => {
  const config = { startInterval: 50, interval: 2000 }
  t.equal(downDelayMs(5000, config, () => 0, 30), 295 - 30)
  t.equal(downDelayMs(5000, config, () => 0, 1000), 1, 'a check longer than the gap: the next one at once')
  t.equal(downDelayMs(60_000, config, () => 1, 500), 2000, 'at the cap never below interval')
})

t.test('small intervals: never longer than interval while ramping, never shorter past the ramp', async (t) => {
  for (const interval of [200, 500]) {
    const config = { startInterval: 50, interval }
    const end = rampEndMs(config)
    const ramping: number[] = []
    const capped: number[] = []
    for (let at = 0; at < end + 10_000; at += 37) {
      if (at < end) ramping.push(downDelayMs(at, config, () => 0))
      else capped.push(downDelayMs(at, config, () => 1))
    }
    t.ok(Math.max(...ramping) <= interval, `interval ${interval}: the longest delay before ${end} ms down is ${Math.max(...ramping)} ms`)
    t.ok(Math.min(...capped) >= interval, `interval ${interval}: the shortest delay from ${end} ms down is ${Math.min(...capped)} ms`)
  }
  // startInterval >= interval: a fixed period.
  t.equal(downDelayMs(0, { startInterval: 500, interval: 500 }, () => 0), 500)
  t.equal(downDelayMs(10_000, { startInterval: 800, interval: 500 }, () => 1), 500)
  t.equal(rampEndMs({ startInterval: 500, interval: 500 }), 0)
})

t.test('a dependency that comes up late is seen within the schedule\'s bound + timeout', async (t) => {
  const port = await freePort()
  const interval = 400
  const timeout = 200
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { db: { check: tcpProbe({ port }), startIntervalMs: 20, intervalMs: interval, timeoutMs: timeout } }, health: false })
  await app.ready()
  // Down for a while: 1.5 s puts the gap at 20 + 5 % x 1500 - 5 = 90 ms at most.
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
  const bound = Math.ceil(lagBoundMs(up - startedAt, { startInterval: 20, interval })) + timeout
  t.ok(after <= bound + 1000, `ready ${after} ms after the port opened (bound ${bound} ms + slack)`)
})
