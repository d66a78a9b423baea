// The probe schedule (issue 24): how late a dependency that was down for T is seen, and how often one
// that stays down is checked, for the 0.2.0 schedule (a jittered backoff that grows with the number of
// attempts) and today's (a delay that grows with the time down, lib/probes/schedule.ts), with default
// options (startIntervalMs 50, intervalMs 2000, timeoutMs 1000). Simulated time (the schedule is a pure
// function; checks take 1 ms) over many runs, then a real-time run against a real TCP port, then the
// Retry-After herd: 200 reject-mode clients through a 6 s start without an `expectedMs` hint.
// Runnable alone: `npm run build && node bench/probe-schedule.js` (BENCH_QUICK=1: fewer runs).
import { createServer, connect } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import readiness, { tcpProbe } from '../dist/index.js'
import { Probe } from '../dist/lib/probes/probe.js'
import { parseProbe } from '../dist/lib/probes/options.js'
import { downDelayMs, delayBoundMs } from '../dist/lib/probes/schedule.js'

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

/** Today's schedule: the delay depends on the time down. */
function newSchedule (random = Math.random) {
  return (downFor) => downDelayMs(downFor, CONFIG, random)
}

/** Check start times (ms) over [0, until): the first at 0, each next one a delay after the previous ended. */
function checkTimes (schedule, until) {
  const next = schedule()
  const times = []
  for (let at = 0; at < until;) { times.push(at); at += CHECK_MS + next(at) }
  return times
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] }
const spread = (xs) => `${pct(xs, 50)} / ${pct(xs, 95)} / ${Math.max(...xs)}`

function simulated () {
  const rows = []
  for (const T of [1000, 2500, 5000, 10_000, 30_000]) {
    const lag = (schedule) => Array.from({ length: RUNS }, () => {
      const seen = checkTimes(schedule, T + 10_000).find((at) => at >= T)
      return Math.round(seen + CHECK_MS - T)
    })
    rows.push([`lag, down ${T / 1000} s (ms, p50 / p95 / max)`, spread(lag(oldSchedule)), spread(lag(newSchedule)), `50 + 5 % = ${50 + 0.05 * T}; schedule bound ${Math.round(delayBoundMs(T, CONFIG))}`])
  }
  const count = (schedule, from, to) => Array.from({ length: RUNS }, () => checkTimes(schedule, to).filter((at) => at >= from).length)
  rows.push(['checks in the first 30 s (p50 / p95 / max)', spread(count(oldSchedule, 0, 30_000)), spread(count(newSchedule, 0, 30_000)), 'at most 60 (2 a second)'])
  rows.push(['checks in the first minute', spread(count(oldSchedule, 0, 60_000)), spread(count(newSchedule, 0, 60_000)), 'reference'])
  rows.push(['checks in the second minute', spread(count(oldSchedule, 60_000, 120_000)), spread(count(newSchedule, 60_000, 120_000)), 'at most 30 (one per intervalMs)'])
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

/** One real-time run: the dependency listens after T ms; ms from its listen to the first passing check. */
async function realLag (T, kind) {
  const port = await freePort()
  const server = createServer((socket) => socket.destroy())
  let upAt = 0
  const opened = sleep(T).then(() => new Promise((resolve) => server.listen(port, '127.0.0.1', () => { upAt = performance.now(); resolve() })))
  let seenAt
  if (kind === 'new') {
    // The real Probe with default options against the real port.
    const probe = await new Promise((resolve) => {
      const p = new Probe('db', parseProbe('probes.db', tcpProbe({ port })), (self) => { if (self.passing) resolve(p) })
      p.start()
    })
    seenAt = performance.now()
    await probe.stop()
  } else {
    const next = oldSchedule()
    while (!(await tcpOpen(port))) await sleep(next())
    seenAt = performance.now()
  }
  await opened
  await new Promise((resolve) => server.close(resolve))
  return Math.round(seenAt - upAt)
}

async function realTime () {
  const rows = []
  for (const T of [2500, 5000]) {
    const old = []
    const now = []
    for (let i = 0; i < REAL_RUNS; i++) { old.push(await realLag(T, 'old')); now.push(await realLag(T, 'new')) }
    rows.push([`real TCP port, down ${T / 1000} s, lag (ms, ${REAL_RUNS} runs: min-max)`, `${Math.min(...old)}-${Math.max(...old)}`, `${Math.min(...now)}-${Math.max(...now)}`, `50 + 5 % = ${50 + 0.05 * T}; schedule bound ${Math.round(delayBoundMs(T, CONFIG))}`])
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
  return [['Retry-After herd: 200 reject-mode clients, 6 s start, no hint', '', `refusals per client max ${Math.max(...refusals)}, mean ${mean}; last in ${lastIn} ms after ready`, 'at most 4 refusals, last in within 1.5 s']]
}

export async function probeSchedule () {
  const rows = [...simulated(), ...await realTime(), ...await retryAfterHerd()]
  return rows.map(([measure, old, now, target]) => ({ measure: `probe schedule: ${measure}`, result: old === '' ? now : `0.2.0: ${old}; now: ${now}`, target, met: true }))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = [...simulated(), ...await realTime(), ...await retryAfterHerd()]
  console.log('| measure | 0.2.0 schedule | today | target |\n| --- | --- | --- | --- |')
  for (const [measure, old, now, target] of rows) console.log(`| ${measure} | ${old} | ${now} | ${target} |`)
}
