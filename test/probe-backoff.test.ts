import t from 'tap'
import { createServer } from 'node:net'
import Fastify from 'fastify'
import readiness, { tcpProbe } from '../index.js'
import { Probe } from '../lib/probes/probe.js'
import { parseProbe } from '../lib/probes/options.js'
import { freePort } from './helpers/servers.js'
import { sleep } from './helpers/net.js'

// Issue 19: before its first pass a probe ran every 50 ms (38 connection
// attempts in 2 s against a closed PostgreSQL port). It now backs off with
// decorrelated jitter from startInterval towards interval, and still sees a
// dependency that comes up within interval + timeout.

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
  t.ok(attempts >= 2 && attempts <= 12, `${attempts} attempts in 2 s (the old fixed 50 ms: ~38)`)
})

t.test('the delays grow from startInterval, never exceed interval, and are jittered', async (t) => {
  const probe = new Probe('db', parseProbe('probes.db', { check: () => {}, startIntervalMs: 50, intervalMs: 2000 }), () => {})
  const runs = Array.from({ length: 50 }, () => {
    const fresh = new Probe('db', parseProbe('probes.db', { check: () => {}, startIntervalMs: 50, intervalMs: 2000 }), () => {})
    return Array.from({ length: 12 }, () => fresh.nextDelay())
  })
  for (const delays of runs) {
    t.equal(delays[0], 50, 'the first retry comes after startInterval')
    t.ok(delays.every((d) => d >= 50 && d <= 2000))
    for (let i = 1; i < delays.length; i++) {
      const previous = delays[i - 1] ?? 0
      const delay = delays[i] ?? 0
      t.ok(delay <= previous * 3 + 1, 'each delay at most 3x the previous')
      t.ok(delay >= Math.min(previous, 1600) - 1, 'the ramp never falls back to fast polling')
    }
  }
  t.ok(new Set(runs.map((d) => d.join(','))).size > 40, 'instances do not retry in lockstep')
  t.equal(probe.nextDelay(() => 1), 50)
  // With the largest jitter every time, the cap comes after 50, 150, 450, 1350, 2000.
  t.same(Array.from({ length: 6 }, () => probe.nextDelay(() => 1)), [150, 450, 1350, 2000, 2000, 2000])
})

t.test('a dependency that comes up late is seen within interval + timeout', async (t) => {
  const port = await freePort()
  const interval = 400
  const timeout = 200
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { db: { check: tcpProbe({ port }), startIntervalMs: 20, intervalMs: interval, timeoutMs: timeout } }, health: false })
  await app.ready()
  // Down long enough for the backoff to reach the interval.
  await sleep(1500)
  t.equal(app.readiness.isReady(), false)
  const server = createServer((socket) => socket.destroy())
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const up = Date.now()
  const seen = new Promise<number>((resolve) => app.readiness.once('ready', () => resolve(Date.now() - up)))
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const after = await seen
  // The stated bound is interval + timeout (600 ms); the rest is slack for a loaded machine.
  t.ok(after <= interval + timeout + 1000, `ready ${after} ms after the port opened (bound ${interval + timeout} ms + slack)`)
})
