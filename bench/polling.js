// Gentle polling of a down dependency (issue 19): connection attempts per
// minute per probe instance during an outage of a real closed PostgreSQL port,
// the old fixed 50 ms polling against the jittered backoff (defaults:
// startInterval 50 ms, interval 2000 ms, timeout 1000 ms), and how soon a
// dependency that comes back is seen. Runnable alone:
// `npm run build && node bench/polling.js` (BENCH_QUICK=1: a 10 s outage).
import { createServer } from 'node:net'
import { postgresProbe, tcpProbe } from '../dist/index.js'
import { Probe } from '../dist/lib/probes/probe.js'
import { parseProbe } from '../dist/lib/probes/options.js'

const INSTANCES = 10
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

function instances (makeCheck, options) {
  const counters = []
  const probes = []
  for (let i = 0; i < INSTANCES; i++) {
    const counter = { attempts: 0 }
    const inner = makeCheck()
    const check = (signal) => { counter.attempts++; return inner(signal) }
    check.close = inner.close
    counters.push(counter)
    probes.push(new Probe(`db${i}`, parseProbe(`probes.db${i}`, { check, ...options }), () => {}))
  }
  return { counters, probes }
}

export async function polling () {
  const outageMs = process.env.BENCH_QUICK === '1' ? 10_000 : 60_000
  const port = await freePort()
  const pg = () => postgresProbe({ connectionString: `postgres://bench@127.0.0.1:${port}/bench`, statementTimeoutMs: 1000 })
  // Before: the old behaviour, a fixed 50 ms until the first pass.
  const before = instances(pg, { startIntervalMs: 50, intervalMs: 50 })
  const after = instances(pg, {})
  for (const p of [...before.probes, ...after.probes]) p.start()
  await sleep(outageMs / 2)
  const total = (counters) => counters.reduce((sum, c) => sum + c.attempts, 0) / counters.length
  const halfway = { before: total(before.counters), after: total(after.counters) }
  await sleep(outageMs / 2)
  const perMinute = (attempts, ms) => attempts * 60_000 / ms
  const beforeRate = perMinute(total(before.counters), outageMs)
  const afterRate = perMinute(total(after.counters), outageMs)
  // The second half shows the steady state, once the backoff has reached the interval.
  const afterSteady = perMinute(total(after.counters) - halfway.after, outageMs / 2)
  await Promise.all([...before.probes, ...after.probes].map((p) => p.stop()))

  // Recovery: after the outage, the port opens; how long until each instance passes?
  const tcpPort = await freePort()
  const recovering = instances(() => tcpProbe({ port: tcpPort }), {})
  for (const p of recovering.probes) p.start()
  await sleep(outageMs)
  const server = createServer((socket) => socket.destroy())
  const opened = performance.now()
  await new Promise((resolve) => server.listen(tcpPort, '127.0.0.1', resolve))
  const seen = await Promise.all(recovering.probes.map(async (p) => {
    while (!p.passing) await sleep(5)
    return performance.now() - opened
  }))
  await Promise.all(recovering.probes.map((p) => p.stop()))
  await new Promise((resolve) => server.close(resolve))
  seen.sort((a, b) => a - b)
  const bound = 2000 + 1000
  return [
    {
      measure: `probe attempts per minute per instance, closed PostgreSQL port, ${outageMs / 1000} s outage (${INSTANCES} instances)`,
      result: `before (fixed 50 ms) ${Math.round(beforeRate)}/min; after (the schedule of lib/probes/schedule.ts) ${Math.round(halfway.after)} in the first ${outageMs / 2000} s, ${Math.round(afterRate)}/min over the whole outage, ${Math.round(afterSteady)}/min in its second half`,
      // Issue 24's rule replaced issue 19's "under 60 a minute over a 1 min outage": a dependency that stays
      // down gets at most 2 checks a second over the first 30 s, then one per interval.
      target: 'at most 60 in the first 30 s (2 a second); steady state at most 35/min (one per 2 s interval, plus jitter)',
      met: afterSteady <= 35 && (outageMs < 60_000 || halfway.after <= 60)
    },
    {
      measure: `dependency back after a ${outageMs / 1000} s outage -> probe passes (${INSTANCES} instances, default options)`,
      result: `median ${Math.round(seen[Math.floor(seen.length / 2)])} ms, max ${Math.round(seen[seen.length - 1])} ms`,
      target: `within interval + timeout (${bound} ms)`,
      met: seen[seen.length - 1] <= bound
    }
  ]
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await polling()) console.log(`${row.measure}: ${row.result} [target ${row.target}: ${row.met ? 'met' : 'MISSED'}]`)
}
