// Issue 24, "our client first through the door": four (or six) clients side by side on one real server
// (child process) with a 4 s cold start, then SIGTERM (the suite's drain, 1012) and a new instance on the
// same port, another 4 s cold start. Each client sends a numbered message every 250 ms the whole time.
// Measured per client: in - ready, where in is when the server's handler ran for it (a socket the gate
// accepts and closes 1013 opens but is not in) (the server's 'ready' event, the instant /health/ready turns 200) at
// the cold start and after the restart, and messages lost (sent, never seen by either instance's handler).
// In every gate mode: hold (the default derived hold, up to 60 s), hold with a 3 s cap (the issue's server:
// the first hold times out before ready), reject, accept-then-close. Several rounds; medians and ranges.
//
//   npm run build && node bench/client-race.js          (BENCH_QUICK=1: one round per mode)
//   RACE_OLD=/tmp/old-client/dist node bench/client-race.js   also races a client built from another commit
//   RACE_NEW=<dist dir>   the build whose client and server run (default: this repository's dist/)
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { resolve } from 'node:path'
import WebSocket from 'ws'

const QUICK = process.env.BENCH_QUICK === '1'
const ROUNDS = QUICK ? 1 : 3
const COLD_MS = 4000
const SEND_EVERY_MS = 250
const SIGTERM_AFTER_READY_MS = 2000 // sockets younger than healthyAfterMs (5 s) when the drain comes
const BACK_WITHIN_MS = 15_000
const NEW_DIST = resolve(process.env.RACE_NEW ?? fileURLToPath(new URL('../dist', import.meta.url)))
const OLD_DIST = process.env.RACE_OLD === undefined ? null : resolve(process.env.RACE_OLD)
const ALL_MODES = [
  { name: 'hold', websocket: { mode: 'hold' } },
  { name: 'hold (3 s cap)', websocket: { mode: 'hold', maxHoldTimeoutMs: 3000 } },
  { name: 'reject', websocket: { mode: 'reject' } },
  { name: 'accept-then-close', websocket: { mode: 'accept-then-close' } }
]
const MODES = process.env.RACE_MODES === undefined ? ALL_MODES : ALL_MODES.filter((m) => process.env.RACE_MODES.split(',').includes(m.name))
// reconnecting-websocket's connection timeout closes a socket still connecting after removing its listeners,
// and ws then emits an 'error' nobody hears (the process dies): every contender gets this ws, which always has one.
class QuietWebSocket extends WebSocket { constructor (...args) { super(...args); this.on('error', () => {}) } }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

if (process.env.RACE_ROLE === 'server') await serve()

/** The server: the suite from RACE_NEW, one route, every message reported on stdout. */
async function serve () {
  const { default: Fastify } = await import('fastify')
  const { default: websocket } = await import('@fastify/websocket')
  const { default: readiness, withDelivery } = await import(pathToFileURL(`${NEW_DIST}/index.js`).href)
  const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`)
  const app = Fastify({ logger: false })
  await app.register(readiness, {
    // RACE_EXPECTED_MS: the phase declares how long it takes (expectedMs), so Retry-After is an estimate, not a guess.
    phases: { warmup: { run: () => sleep(Number(process.env.COLD_MS)), ...(process.env.RACE_EXPECTED_MS ? { expectedMs: Number(process.env.RACE_EXPECTED_MS) } : {}) } },
    websocket: JSON.parse(process.env.GATE),
    shutdown: { delayMs: 0 }
  })
  await app.register(websocket)
  app.get('/race', { websocket: true }, (socket, request) => {
    const who = new URL(request.url, 'http://x').searchParams.get('c')
    print({ in: who, t: Date.now() }) // the handler runs: this client is in (a 1013'd open never gets here)
    if (who.endsWith('delivery')) withDelivery(socket, (data, ctx) => { if (ctx !== null) print({ m: who, s: Number(data) }) })
    else socket.on('message', (data) => print({ m: who, s: Number(String(data)) }))
  })
  app.readiness.on('ready', () => print({ ready: Date.now() }))
  await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
  print({ listening: Date.now() })
  await new Promise(() => {}) // the suite's signal handler ends this process
}

async function freePort () {
  const probe = createServer()
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  return port
}

/** One instance; `received` collects what its handlers saw. */
async function instance (port, gate, received, admitted) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, RACE_ROLE: 'server', PORT: String(port), GATE: JSON.stringify(gate), COLD_MS: String(COLD_MS) },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let readyAt = null
  let onReady = () => {}
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const listening = new Promise((resolve, reject) => {
    let rest = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop()
      for (const line of lines) {
        const event = JSON.parse(line)
        if (event.m !== undefined) {
          const seen = received.get(event.m) ?? new Map()
          received.set(event.m, seen)
          seen.set(event.s, (seen.get(event.s) ?? 0) + 1)
        } else if (event.in !== undefined) admitted(event.in, event.t)
        else if (event.ready !== undefined) { readyAt = event.ready; if (process.env.RACE_DEBUG === '1') console.error(readyAt % 100_000, 'ready'); onReady() } else if (event.listening !== undefined) resolve()
      }
    })
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening`)))
  })
  await listening
  return {
    ready: () => readyAt !== null ? Promise.resolve(readyAt) : new Promise((resolve) => { onReady = () => resolve(readyAt) }),
    terminate: () => { child.kill('SIGTERM'); return exited },
    kill: () => { if (child.exitCode === null) child.kill('SIGKILL'); return exited }
  }
}

/** Each contender behind one surface: open times, send, and whether everything it holds went out. */
async function contenders (url) {
  const list = []
  const ours = async (label, dist) => {
    const { ReadinessClient } = await import(pathToFileURL(`${dist}/lib/client/index.js`).href)
    for (const delivery of [false, true]) {
      const name = `${label}${delivery ? '-delivery' : ''}`
      const client = new ReadinessClient(`${url}?c=${name}`, { WebSocket: QuietWebSocket, maxBuffered: 10_000, ...(delivery ? { delivery: true } : {}) })
      if (process.env.RACE_DEBUG === '1') for (const e of ['retry', 'close', 'refused']) client.on(e, (info) => console.error(Date.now() % 100_000, name, e, JSON.stringify(info)))
      list.push({ name, label: `\`fastify-readiness/client\` (${label})${delivery ? ', delivery' : ''}`, on: (fn) => client.on('open', fn), send: (text) => client.send(text), settled: () => client.buffered === 0, close: () => client.close() })
    }
  }
  if (OLD_DIST !== null) await ours('before', OLD_DIST)
  await ours(OLD_DIST === null ? 'this build' : 'after', NEW_DIST)
  const { default: ReconnectingWebSocket } = await import('reconnecting-websocket')
  const { WebSocket: PartySocket } = await import('partysocket')
  for (const [name, label, Ctor] of [['rws', 'reconnecting-websocket', ReconnectingWebSocket], ['partysocket', 'partysocket', PartySocket]]) {
    const socket = new Ctor(`${url}?c=${name}`, [], { WebSocket: QuietWebSocket })
    list.push({ name, label, on: (fn) => socket.addEventListener('open', fn), send: (text) => { socket.send(text); return true }, settled: () => true, close: () => socket.close() })
  }
  return list
}

async function round (mode) {
  const port = await freePort()
  const url = `ws://127.0.0.1:${port}/race`
  const received = new Map()
  const opens = new Map()
  const admitted = (name, t) => { if (!opens.has(name)) opens.set(name, []); opens.get(name).push(t) }
  const a = await instance(port, mode.websocket, received, admitted)
  const clients = await contenders(url)
  for (const c of clients) if (!opens.has(c.name)) opens.set(c.name, [])
  const sent = new Map(clients.map((c) => [c.name, 0]))
  let seq = 0
  const sender = setInterval(() => {
    seq++
    for (const c of clients) if (c.send(String(seq)) !== false) sent.set(c.name, seq)
  }, SEND_EVERY_MS)
  const firstOpenAfter = async (since, readyAt) => {
    const deadline = readyAt + BACK_WITHIN_MS
    while (Date.now() < deadline && clients.some((c) => !opens.get(c.name).some((t) => t >= since))) await sleep(20)
    return new Map(clients.map((c) => {
      const t = opens.get(c.name).find((t) => t >= since)
      return [c.name, t === undefined ? null : t - readyAt]
    }))
  }
  const readyA = await a.ready()
  const start = await firstOpenAfter(0, readyA)
  await sleep(Math.max(0, readyA + SIGTERM_AFTER_READY_MS - Date.now()))
  const drainAt = Date.now()
  await a.terminate() // 1012 to every socket, then exit: the port is free
  const b = await instance(port, mode.websocket, received, admitted)
  const readyB = await b.ready()
  const restart = await firstOpenAfter(drainAt, readyB)
  clearInterval(sender)
  const until = Date.now() + 5000
  await sleep(SEND_EVERY_MS * 2)
  while (Date.now() < until && !clients.every((c) => c.settled())) await sleep(50)
  await sleep(300)
  for (const c of clients) c.close()
  await b.kill()
  const lost = new Map(clients.map((c) => {
    const seen = received.get(c.name) ?? new Map()
    let missing = 0
    let duplicates = 0
    for (let s = 1; s <= sent.get(c.name); s++) { if (!seen.has(s)) missing++ }
    for (const n of seen.values()) duplicates += n - 1
    return [c.name, { missing, duplicates, sent: sent.get(c.name) }]
  }))
  return { clients, start, restart, lost }
}

const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s.length === 0 ? null : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }
const fmt = (ms) => ms === null ? `not back in ${BACK_WITHIN_MS / 1000} s` : `${ms >= 0 ? '+' : ''}${Math.round(ms).toLocaleString('en-US')}`
const cell = (values) => {
  const back = values.filter((v) => v !== null)
  const missing = values.length - back.length
  const m = median(back)
  const spread = back.length > 1 ? ` (${fmt(Math.min(...back))} .. ${fmt(Math.max(...back))})` : ''
  return `${m === null ? '-' : fmt(m)}${spread}${missing > 0 ? `, ${missing}x not back in ${BACK_WITHIN_MS / 1000} s` : ''}`
}

/** The bar of issue 24: no later than the best of the two libraries plus 250 ms, or within 1 s of ready. */
function target (result, phase) {
  const rws = result[phase].get('rws')
  const party = result[phase].get('partysocket')
  const best = Math.min(rws ?? Infinity, party ?? Infinity)
  return Math.max(best + 250, 1000)
}

/** bench/run.js's section: the rows; the tables are printed. */
export default async function clientRaceRows () {
  const { rows, markdown } = await clientRace()
  console.log(markdown)
  return rows
}

export async function clientRace () {
  const started = Date.now()
  const tables = []
  const rows = []
  for (const mode of MODES) {
    const results = []
    for (let r = 0; r < ROUNDS; r++) results.push(await round(mode))
    const names = results[0].clients.map((c) => [c.name, c.label])
    const lines = [`**${mode.name}** (${ROUNDS} round${ROUNDS > 1 ? 's' : ''}; ms from ready to open, median (min .. max))`, '',
      '| client | cold start | after the restart | met the bar (start / restart) | lost / sent | duplicates |', '| --- | --- | --- | --- | --- | --- |']
    for (const [name, label] of names) {
      const mine = name !== 'rws' && name !== 'partysocket'
      const met = (phase) => results.filter((res) => { const v = res[phase].get(name); return v !== null && v <= target(res, phase) }).length
      const lost = results.reduce((n, res) => n + res.lost.get(name).missing, 0)
      const total = results.reduce((n, res) => n + res.lost.get(name).sent, 0)
      const dups = results.reduce((n, res) => n + res.lost.get(name).duplicates, 0)
      lines.push(`| ${label} | ${cell(results.map((res) => res.start.get(name)))} | ${cell(results.map((res) => res.restart.get(name)))} | ${mine ? `${met('start')}/${ROUNDS} / ${met('restart')}/${ROUNDS}` : ''} | ${lost} / ${total} | ${dups} |`)
      if (mine && !name.startsWith('before')) {
        const ok = met('start') === ROUNDS && met('restart') === ROUNDS
        rows.push({ measure: `client race, ${mode.name}: ${label} vs reconnecting-websocket and partysocket`, result: `start ${cell(results.map((res) => res.start.get(name)))} ms, restart ${cell(results.map((res) => res.restart.get(name)))} ms; lost ${lost}/${total}`, target: 'best of the two + 250 ms, or within 1 s of ready; nothing lost', met: ok && lost === 0 })
      }
    }
    tables.push(lines.join('\n'))
  }
  const seconds = Math.round((Date.now() - started) / 1000)
  return { rows, markdown: `${tables.join('\n\n')}\n\n(${seconds} s; cold start ${COLD_MS / 1000} s, SIGTERM ${SIGTERM_AFTER_READY_MS / 1000} s after ready, a message every ${SEND_EVERY_MS} ms; the bar per round: max(best of reconnecting-websocket and partysocket + 250 ms, 1 s))` }
}

if (process.env.RACE_ROLE !== 'server' && process.argv[1] === fileURLToPath(import.meta.url)) {
  const { markdown } = await clientRace()
  console.log(markdown)
}
