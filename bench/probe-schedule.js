// The probe schedule (issue 24): how late a dependency that was down for T is seen, and how often one
// that stays down is checked, for the 0.2.0 schedule (a jittered backoff that grows with the number of
// attempts) and today's (gaps that grow with the time down, lib/probes/schedule.ts), with default
// options (startIntervalMs 50, intervalMs 2000, timeoutMs 1000), judged against issue 24's targets: a
// dependency down for T (1 s to 60 s) seen within 50 ms + 5 % of T (the strict maximum, the check
// included), at most 60 checks in the first 30 s and one per intervalMs after a minute. Simulated time
// (the schedule is a pure function; checks take 1 ms) over many runs, at fixed T and at every T in
// [1 s, 60 s], then a real-time run of the real Probe against a real TCP port, then the
// Retry-After herd: 200 reject-mode clients through a 6 s start without an `expectedMs` hint, and the same
// rule simulated for starts of 1-60 s (the real estimate on a simulated clock) against the 0.3.0 rule.
// Every row's `met` is computed from its figures against the target it states. Runnable alone: `npm run build && node bench/probe-schedule.js` (BENCH_QUICK=1: fewer runs).
import { createServer, connect } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import readiness, { tcpProbe } from '../dist/index.js'
import { Probe } from '../dist/lib/probes/probe.js'
import { parseProbe } from '../dist/lib/probes/options.js'
import { downDelayMs, rampEndMs, MARGIN_MS } from '../dist/lib/probes/schedule.js'
import { StartupRunner } from '../dist/lib/startup/runner.js'
import { parsePhase } from '../dist/lib/startup/phase-options.js'
import { retryAfterSeconds } from '../dist/lib/core/policy.js'

const QUICK = process.env.BENCH_QUICK === '1'
const RUNS = QUICK ? 200 : 2000
const REAL_RUNS = QUICK ? 2 : 4
const CONFIG = { startInterval: 50, interval: 2000 }
const CHECK_MS = 1
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The 0.2.0 schedule (lib/probes/probe.ts nextDelay before issue 24), copied: a delay per attempt. */
function oldSchedule (random = Math.random) {
  let backoff = null
  return () => {
    const { interval, startInterval } = CONFIG
    if (backoff === null) { backoff = startInterval; return startInterval }
    if (backoff >= interval) return Math.round(interval * (0.8 + 0.2 * random()))
    backoff = Math.min(interval, backoff * (1 + 2 * random()))
    return Math.round(backoff)
  }
}

/** Today's schedule: the gap depends on the time down when the last check began; its CHECK_MS come out of the delay. */
function newSchedule (random = Math.random) {
  return (downFor) => downDelayMs(downFor, CONFIG, random, CHECK_MS)
}

/** Check start times (ms) over [0, until): the first at 0, each next one a delay after the previous ended. */
function checkTimes (schedule, until) {
  const next = schedule()
  const times = []
  for (let at = 0; at < until;) { times.push(at); at += CHECK_MS + next(at) }
  return times
}

/** The bound: a dependency down for T is seen within 50 ms + 5 % of T. */
const target = (T) => 50 + 0.05 * T

/**
 * The worst lag over every T in [1 s, 60 s] of one run, as its excess over the target: a dependency back
 * just after a check began (that check missed it) is seen when the next one ends, so in each gap the
 * worst T is its start (or 1 s), the least excess the gap's end. Returns [excess, T].
 */
function worstExcess (times) {
  let worst = [-Infinity, 0]
  for (let k = 0; k + 1 < times.length; k++) {
    const T = Math.max(times[k], 1000)
    if (T > 60_000) break
    if (times[k + 1] < 1000) continue
    const excess = times[k + 1] + CHECK_MS - T - target(T)
    if (excess > worst[0]) worst = [excess, T]
  }
  return worst
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] }
const spread = (xs) => `${pct(xs, 50)} / ${pct(xs, 95)} / ${Math.max(...xs)}`

/** A row: what it measures, the 0.2.0 / 0.3.0 figure ('' if none), today's, the target, and whether today's meets it. */
const row = (measure, old, now, target, met) => [measure, old, now, target, met]

function simulated () {
  const rows = []
  for (const T of [1000, 2500, 5000, 10_000, 30_000]) {
    const lag = (schedule) => Array.from({ length: RUNS }, () => {
      const seen = checkTimes(schedule, T + 10_000).find((at) => at >= T)
      return Math.round(seen + CHECK_MS - T)
    })
    const now = lag(newSchedule)
    rows.push(row(`lag, down ${T / 1000} s (ms, p50 / p95 / max)`, spread(lag(oldSchedule)), spread(now), `max within 50 + 5 % of T = ${target(T)} (the check included)`, Math.max(...now) <= target(T)))
  }
  // Every T, not a few: the worst gap of every run, against the bound at its own T.
  const every = (schedule) => Array.from({ length: RUNS }, () => worstExcess(checkTimes(schedule, 70_000)))
  const show = (ws) => { const [excess, T] = ws.reduce((a, b) => (b[0] > a[0] ? b : a)); return `${excess.toFixed(1)} ms (at T = ${(T / 1000).toFixed(2)} s)` }
  const now = every(newSchedule)
  rows.push(row('lag at every T in [1 s, 60 s], worst over all runs, minus 50 + 5 % of T (ms)', show(every(oldSchedule)), show(now), 'at most 0 (every T within 50 + 5 % of T, the check included)', Math.max(...now.map(([excess]) => excess)) <= 0))
  const count = (schedule, from, to) => Array.from({ length: RUNS }, () => checkTimes(schedule, to).filter((at) => at >= from).length)
  // As in 0.3.0: 60 in the first 30 s, then at most 30 s / interval + 1 more.
  const firstMinute = 60 + Math.floor(30_000 / CONFIG.interval) + 1
  const limits = [['checks in the first 30 s (p50 / p95 / max)', 0, 30_000, 60, 'at most 60 (2 a second)'],
    ['checks in the first minute', 0, 60_000, firstMinute, `at most ${firstMinute} (60 in the first 30 s, then 30 s / intervalMs + 1; every delay at least intervalMs from ${(rampEndMs(CONFIG) / 1000).toFixed(1)} s)`],
    ['checks in the second minute', 60_000, 120_000, 30, 'at most 30 (one per intervalMs)']]
  for (const [measure, from, to, most, goal] of limits) {
    const now = count(newSchedule, from, to)
    rows.push(row(measure, spread(count(oldSchedule, from, to)), spread(now), goal, Math.max(...now) <= most))
  }
  // The delays themselves (from a check's end to the next start) past a minute, shortest and longest over all runs.
  const delays = (schedule) => Array.from({ length: RUNS }, () => {
    const times = checkTimes(schedule, 180_000)
    return times.slice(1).map((at, i) => [times[i], at - times[i] - CHECK_MS]).filter(([from]) => from >= 60_000).map(([, d]) => d)
  }).flat()
  // Too many delays to spread into Math.min's arguments.
  const least = (ds) => ds.reduce((a, b) => Math.min(a, b))
  const most = (ds) => ds.reduce((a, b) => Math.max(a, b))
  const late = delays(newSchedule)
  const old = delays(oldSchedule)
  rows.push(row('delays past 60 s (ms, shortest-longest over all runs)', `${least(old)}-${most(old)}`, `${least(late)}-${most(late)}`, `every one at least intervalMs (${CONFIG.interval}), jittered`, least(late) >= CONFIG.interval && most(late) > least(late)))
  return rows
}

async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

const tcpOpen = (port) => new Promise((resolve) => {
  const s = connect(port, '127.0.0.1')
  s.once('connect', () => { s.destroy(); resolve(true) })
  s.once('error', () => { s.destroy(); resolve(false) })
})

/** One real-time run: the dependency listens after T ms; [ms from its listen to the first passing check, that check's ms]. */
async function realLag (T, kind) {
  const port = await freePort()
  const server = createServer((socket) => socket.destroy())
  let upAt = 0
  const opened = sleep(T).then(() => new Promise((resolve) => server.listen(port, '127.0.0.1', () => { upAt = performance.now(); resolve() })))
  let seenAt
  let checkMs = null
  if (kind === 'new') {
    // The real Probe with default options against the real port.
    const probe = await new Promise((resolve) => {
      const p = new Probe('db', parseProbe('probes.db', tcpProbe({ port })), (self) => { if (self.passing) resolve(p) })
      p.start()
    })
    seenAt = performance.now()
    checkMs = probe.snapshot().latencyMs
    await probe.stop()
  } else {
    const next = oldSchedule()
    while (!(await tcpOpen(port))) await sleep(next())
    seenAt = performance.now()
  }
  await opened
  await new Promise((resolve) => server.close(resolve))
  return [Math.round(seenAt - upAt), checkMs]
}

async function realTime () {
  const rows = []
  for (const T of [1000, 2500, 5000]) {
    const old = []
    const now = []
    const checks = []
    for (let i = 0; i < REAL_RUNS; i++) {
      old.push((await realLag(T, 'old'))[0])
      const [lag, checkMs] = await realLag(T, 'new')
      now.push(lag)
      checks.push(checkMs)
    }
    // No allowance on top: the schedule keeps MARGIN_MS of each gap for the passing connect and a late timer.
    rows.push(row(`real TCP port, down ${T / 1000} s, lag (ms, ${REAL_RUNS} runs: min-max; the passing connect's ms)`, `${Math.min(...old)}-${Math.max(...old)}`, `${Math.min(...now)}-${Math.max(...now)}; connect ${Math.min(...checks)}-${Math.max(...checks)}`, `max within 50 + 5 % of T = ${target(T)} (the connect included: the schedule keeps ${MARGIN_MS} ms of each gap for it and a late timer)`, Math.max(...now) <= target(T)))
  }
  return rows
}

/** 200 reject-mode clients that wait what Retry-After says, through a 6 s start without hints. */
export async function retryAfterHerd () {
  const CLIENTS = 200
  const app = Fastify()
  await app.register(readiness, { phases: { warmup: { run: () => sleep(6000), timeoutMs: 60_000 } }, websocket: { mode: 'reject' }, health: false })
  await app.register(websocket)
  app.get('/ws', { websocket: true }, (socket) => socket.close(1000))
  let readyAt = 0
  app.readiness.once('ready', () => { readyAt = Date.now() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${app.server.address().port}/ws`
  const client = async () => {
    for (let refusals = 0; ; refusals++) {
      const outcome = await new Promise((resolve) => {
        const ws = new WebSocket(url)
        ws.once('open', () => { ws.terminate(); resolve({ in: true, at: Date.now() }) })
        ws.once('unexpected-response', (_req, res) => { res.resume(); ws.terminate(); resolve({ in: false, retryAfter: Number(res.headers['retry-after']) }) })
        ws.once('error', () => resolve({ in: false, retryAfter: 1 }))
      })
      if (outcome.in) return { refusals, at: outcome.at }
      await sleep(outcome.retryAfter * 1000)
    }
  }
  const results = await Promise.all(Array.from({ length: CLIENTS }, client))
  await app.close()
  const refusals = results.map((r) => r.refusals)
  const lastIn = Math.max(...results.map((r) => r.at)) - readyAt
  const mean = (refusals.reduce((a, b) => a + b, 0) / CLIENTS).toFixed(2)
  const met = Math.max(...refusals) <= 4 && lastIn <= 1500 && Math.min(...results.map((r) => r.at)) >= readyAt
  return [row('Retry-After herd: 200 reject-mode clients, 6 s start, no hint', '', `refusals per client max ${Math.max(...refusals)}, mean ${mean}; last in ${lastIn} ms after ready`, 'at most 4 refusals, last in within 1.5 s, none before ready', met)]
}

const SIM_STARTS = [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60]
/** Each trip of a simulated client takes 0-TRIP_MS ms (200 real clients on this machine: 5-300 ms). */
const TRIP_MS = 200

/** The 0.3.0 rule, copied: past the 1 s first guess, 2e - X (about as long again plus the overrun). */
function oldRetryAfter (e) {
  const ms = e < 1000 ? 1000 - e : Math.max(250, 2 * e - 1000)
  return Math.min(30, Math.max(1, e < 1000 ? Math.ceil(ms / 1000) : Math.round(ms / 1000)))
}

/** Today's rule: the real runner's estimate for one phase without a hint `e` ms in, through the real policy. */
function todaysRetryAfter () {
  const host = { app: null, waitForProbes: async () => {}, notPassing: () => [], onPhaseStarted () {}, onPhaseFinished () {}, onPhaseFailed () {}, onStateChange () {} }
  const phase = parsePhase('phases', 'warmup', { run: (_app, signal) => new Promise((resolve) => signal.addEventListener('abort', resolve)), timeoutMs: 120_000 })
  const runner = new StartupRunner([phase], host)
  runner.start()
  const origin = runner.startedAt
  const memo = new Map()
  const ask = (e) => {
    const now = origin + Math.round(e)
    if (!memo.has(now)) {
      memo.set(now, retryAfterSeconds({ draining: false, outOfService: false, startupState: 'running', estimateRemainingMs: runner.estimateRemainingMs(now), estimateIsGuess: runner.estimateIsGuess(now), remainingBudgetMs: 0, failingCritical: [] }))
    }
    return memo.get(now)
  }
  return { ask, close: () => runner.close() }
}

/** Clients that wait what they are told through a start of S ms: refusals and how late the last got in. */
function simulateStart (retryAfter, S, herd, n = 200) {
  const out = Array.from({ length: n }, () => {
    let t = herd ? 0 : Math.random() * S
    for (let refusals = 0; ; refusals++) {
      t += Math.random() * TRIP_MS
      if (t >= S) return { refusals, late: t - S }
      t += retryAfter(t) * 1000
    }
  })
  return { refusals: Math.max(...out.map((r) => r.refusals)), late: Math.max(...out.map((r) => r.late)) }
}

/**
 * The Retry-After rule without hints over starts of 1-60 s, simulated: 200 clients from the first
 * moment (a herd) and 200 arriving at random during the start. Target, from the schedule (moments 1, 2,
 * 4, 7, 12, 21, 37 s, each 1.75 times the last): refusals at most 2 + log1.75(S), the last in within
 * 0.75 x S + 2 s (a start just past a moment costs the next step, plus a second of rounding and the trip).
 */
export function retryAfterSimulated () {
  const today = todaysRetryAfter()
  const rows = []
  try {
    for (const s of SIM_STARTS) {
      const S = s * 1000
      const most = Math.floor(2 + Math.log(s) / Math.log(1.75))
      const lateBy = 0.75 * S + 2000
      const fig = (rule) => [true, false].map((herd) => simulateStart(rule, S, herd))
      const show = (figs) => figs.map((f) => `${f.refusals} / ${(f.late / 1000).toFixed(1)} s`).join('; ')
      const now = fig(today.ask)
      rows.push(row(`Retry-After without a hint, simulated ${s} s start (herd from 0; random arrivals: max refusals / last in after ready)`,
        show(fig(oldRetryAfter)), show(now), `at most ${most} refusals, in within ${(lateBy / 1000).toFixed(1)} s`,
        now.every((f) => f.refusals <= most && f.late <= lateBy)))
    }
  } finally {
    today.close()
  }
  return rows
}

const allRows = async () => [...simulated(), ...await realTime(), ...await retryAfterHerd(), ...retryAfterSimulated()]
const earlier = (measure) => measure.startsWith('Retry-After') ? '0.3.0' : '0.2.0'

export async function probeSchedule () {
  return (await allRows()).map(([measure, old, now, target, met]) => ({ measure: `probe schedule: ${measure}`, result: old === '' ? now : `${earlier(measure)}: ${old}; now: ${now}`, target, met }))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('| measure | 0.2.0 schedule / 0.3.0 Retry-After | today | target | |\n| --- | --- | --- | --- | --- |')
  for (const [measure, old, now, target, met] of await allRows()) console.log(`| ${measure} | ${old} | ${now} | ${target} | ${met ? 'met' : '**missed**'} |`)
}
