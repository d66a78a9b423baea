import t from 'tap'
import { createServer } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import Fastify from 'fastify'
import readiness, { tcpProbe } from '../../index.js'
import { delayBoundMs } from '../../lib/probes/schedule.js'
import { PROBE_DEFAULTS } from '../../lib/probes/options.js'
import { freePort } from '../helpers/servers.js'

// Issue 24: the backoff before the first pass grew with the number of attempts, so a dependency that came
// up 2.5 s after start was seen 1.65 s late (5 s: 0.75-1.1 s). The delay now grows with the time down: a
// dependency back after T is seen within delayBoundMs(T) (50 ms + 8 % of T with defaults) plus what the
// check itself takes. What the machine adds (a late timer on a loaded box) is measured and allowed for:
// the schedule is the only bound asserted.

/** A Redis-like dependency (the probe is a TCP connect; the server answers PING as Redis would): answers PING with +PONG on a real TCP port. */
function redisLike () {
  return createServer((socket) => {
    socket.on('data', (chunk) => {
      for (const line of chunk.toString('latin1').split('\r\n')) if (/^PING$/i.test(line)) socket.write('+PONG\r\n')
    })
    socket.on('error', () => socket.destroy())
  })
}

for (const downMs of [2500, 5000]) {
  t.test(`a Redis-like dependency that comes up ${downMs} ms after start is seen within the schedule's bound`, async (t) => {
    const port = await freePort()
    const app = Fastify()
    t.teardown(() => app.close())
    // Default probe options: the issue is about them.
    await app.register(readiness, { probes: { cache: tcpProbe({ port }) }, health: false })
    const eld = monitorEventLoopDelay({ resolution: 10 })
    eld.enable()
    t.teardown(() => eld.disable())
    await app.ready()
    const startedAt = performance.now()
    const server = redisLike()
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const up = await new Promise<number>((resolve) => {
      setTimeout(() => server.listen(port, '127.0.0.1', () => resolve(performance.now())), downMs)
    })
    t.equal(app.readiness.isReady(), false, 'not ready while it was down')
    const seenAt = await new Promise<number>((resolve) => app.readiness.once('ready', () => resolve(performance.now())))
    const lag = seenAt - up
    const snapshot = app.readiness.status().probes.cache
    const bound = delayBoundMs(up - startedAt, { startInterval: PROBE_DEFAULTS.startInterval, interval: PROBE_DEFAULTS.interval })
    // The passing check's own duration, and the worst event-loop delay seen (a timer that fired late).
    const checkMs = snapshot?.latencyMs ?? 0
    const lateMs = eld.max / 1e6
    t.ok(lag <= bound + checkMs + lateMs, `seen ${Math.round(lag)} ms after it came up: bound ${Math.round(bound)} ms + check ${checkMs} ms + event-loop delay ${Math.round(lateMs)} ms`)
  })
}
