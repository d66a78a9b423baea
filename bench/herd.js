// The reconnect herd: two instances behind HAProxy, N sockets each; one drains. What the survivor feels
// (its event-loop delay p99 while the drained clients pile in) and how long until every client is back,
// with the closes all at once vs spread over a window (websocket.drainSpreadMs), side by side in one run.
// Run alone: node bench/herd.js (BENCH_QUICK=1 for a short run). Needs haproxy and a build (npm run build).
// Counted from the signal on: a client is drained when a socket it had open at the signal closes, and back
// when it opens again; a connect that failed during the setup is none of the drain's business.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import WebSocket from 'ws'

const SELF = fileURLToPath(import.meta.url)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const QUICK = process.env.BENCH_QUICK === '1'
const PER_INSTANCE = Number(process.env.HERD_SOCKETS ?? (QUICK ? 300 : 2000))
const SPREAD_MS = Number(process.env.HERD_SPREAD_MS ?? 2000)
const DRAIN_TIMEOUT_MS = 2000

// ------------------------------------------------------------------ one instance (child process)
async function instance () {
  const { default: Fastify } = await import('fastify')
  const { default: websocket } = await import('@fastify/websocket')
  const { default: readiness } = await import('fastify-readiness')
  const spread = Number(process.env.HERD_INSTANCE_SPREAD)
  const app = Fastify({ logger: { level: 'error' } })
  await app.register(websocket)
  await app.register(readiness, {
    // 0 must be passed: left out, drainSpreadMs is its default (1000 ms), and "all at once" would be spread.
    websocket: { drainSpreadMs: spread, drainTimeoutMs: DRAIN_TIMEOUT_MS },
    // HAProxy's check (inter 100 ms, fall 1) takes the draining instance out before the closes begin.
    shutdown: { delayMs: 400, timeoutMs: 30_000 }
  })
  // A little work per connection, as an app's handler would do (auth lookup, room join, history).
  app.get('/chat', { websocket: true }, (socket) => {
    let hash = 0
    for (let i = 0; i < 20_000; i++) hash = (hash * 31 + i) | 0
    socket.send(String(hash))
    socket.on('message', (d) => socket.send(d.toString()))
  })
  const eld = monitorEventLoopDelay({ resolution: 5 })
  eld.enable()
  app.get('/__herd/eld/reset', async () => { eld.reset(); return {} })
  app.get('/__herd/eld', async () => ({ p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 }))
  // HAProxy's round robin is not an even split once a check has failed during the setup: count what is here.
  app.get('/__herd/sockets', async () => ({ open: app.websocketServer.clients.size }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  process.stdout.write(JSON.stringify({ port: app.server.address().port }) + '\n')
}

// ------------------------------------------------------------------ the bench
async function freePort () {
  return await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

function startInstance (spread) {
  const child = spawn(process.execPath, [SELF, '--instance'], { env: { ...process.env, HERD_INSTANCE_SPREAD: String(spread) }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c) => { stderr += String(c) })
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  const port = new Promise((resolve, reject) => {
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      out += chunk
      const line = out.split('\n').find((l) => l.startsWith('{"port"'))
      if (line) resolve(JSON.parse(line).port)
    })
    void exited.then((code) => reject(new Error(`instance exited with ${code}: ${stderr.split('\n').find((l) => /option "/.test(l)) ?? stderr.slice(0, 300)}`)))
  })
  return { child, port, exited }
}

async function startHaproxy (port, backends) {
  const dir = mkdtempSync(join(tmpdir(), 'readiness-herd-'))
  writeFileSync(join(dir, 'haproxy.cfg'), `global
  # about 2 fds per connection: 9000 fits a 20000 fd limit
  maxconn 9000

defaults
  mode http
  timeout connect 1s
  # Without it a check gets inter (100 ms) to answer: a survivor busy with the herd, on a machine this
  # bench shares with HAProxy and its clients, was marked down for a check and its clients got 503.
  # The draining instance answers 503 at once, so it is still out within a check.
  timeout check 1s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  option redispatch
  retries 3

frontend herd
  bind 127.0.0.1:${port}
  maxconn 9000
  default_backend instances

backend instances
  balance roundrobin
  option httpchk GET /health/ready
  http-check expect status 200
  default-server inter 100ms fall 1 rise 1 maxconn 10000
${backends.map((b, i) => `  server i${i} 127.0.0.1:${b} check`).join('\n')}
`)
  const child = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c) => { stderr += String(c) })
  for (let i = 0; ; i++) {
    if (await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.status === 200, () => false)) break
    if (i > 100 || child.exitCode !== null) { child.kill('SIGKILL'); throw new Error(`haproxy did not start: ${stderr}`) }
    await sleep(50)
  }
  await sleep(300) // both servers' first checks passed
  return async () => { child.kill('SIGKILL'); await new Promise((resolve) => child.once('exit', resolve)); rmSync(dir, { recursive: true, force: true }) }
}

/** A naive client: reconnects at once on a drain close, the worst case for the survivor. */
function client (url, stats) {
  let drainedAt = 0
  let back = false
  const open = () => {
    const ws = new WebSocket(url)
    let openedAt = 0
    ws.on('open', () => {
      openedAt = Date.now()
      stats.open++
      if (drainedAt > 0 && !back) { back = true; stats.back++; stats.lastBack = openedAt }
    })
    ws.on('error', () => {})
    ws.on('close', (code) => {
      if (stats.stopping) return
      if (openedAt > 0) stats.open--
      if (openedAt > 0 && stats.signalled > 0 && openedAt < stats.signalled && drainedAt === 0) {
        drainedAt = Date.now()
        if (stats.firstClose === 0) stats.firstClose = drainedAt
        stats.codes[code] = (stats.codes[code] ?? 0) + 1
      } else if (openedAt === 0 && drainedAt > 0 && !back) {
        stats.failed++ // a reconnect that did not open (HAProxy or the instance refused it, or it failed)
      }
      setTimeout(open, code === 1012 || code === 1001 ? 0 : 100)
    })
    stats.sockets.push(ws)
  }
  open()
}

async function scenario (spread) {
  const a = startInstance(spread)
  const b = startInstance(spread)
  const [pa, pb] = await Promise.all([a.port, b.port]).catch((err) => {
    a.child.kill('SIGKILL')
    b.child.kill('SIGKILL')
    throw err
  })
  const proxyPort = await freePort()
  const stopProxy = await startHaproxy(proxyPort, [pa, pb]).catch((err) => {
    a.child.kill('SIGKILL')
    b.child.kill('SIGKILL')
    throw err
  })
  const stats = { open: 0, back: 0, failed: 0, signalled: 0, firstClose: 0, lastBack: 0, codes: {}, sockets: [], stopping: false }
  const url = `ws://127.0.0.1:${proxyPort}/chat`
  for (let i = 0; i < PER_INSTANCE * 2; i++) {
    client(url, stats)
    if (i % 100 === 99) await sleep(20) // do not herd the setup itself
  }
  const deadline = Date.now() + 60_000
  while (stats.open < PER_INSTANCE * 2 && Date.now() < deadline) await sleep(50)
  const all = stats.open
  await sleep(500)
  const onA = (await (await fetch(`http://127.0.0.1:${pa}/__herd/sockets`)).json()).open
  await fetch(`http://127.0.0.1:${pb}/__herd/eld/reset`)
  const signalled = stats.signalled = Date.now()
  a.child.kill('SIGTERM')
  const code = await a.exited
  // Counted as the closes arrive, which can be after the process exited: HAProxy relays them.
  const drainedSoFar = () => Object.values(stats.codes).reduce((n, c) => n + c, 0)
  while ((drainedSoFar() < onA || stats.back < drainedSoFar()) && Date.now() < signalled + 60_000) await sleep(20)
  const drained = drainedSoFar()
  // From the first drain close: the serving delay before it is the same in both scenarios.
  const backMs = stats.lastBack - stats.firstClose
  const eld = await (await fetch(`http://127.0.0.1:${pb}/__herd/eld`)).json()
  stats.stopping = true
  for (const ws of stats.sockets) ws.terminate()
  b.child.kill('SIGKILL')
  await b.exited
  await stopProxy()
  return { all, onA, drained, back: stats.back, failed: stats.failed, backMs, eld, exitCode: code, codes: stats.codes }
}

export async function herd () {
  const rows = []
  const flat = await scenario(0)
  let spread = null
  try {
    spread = await scenario(SPREAD_MS)
  } catch (err) {
    rows.push({ measure: `herd: closes spread over ${SPREAD_MS} ms`, result: `not run: ${String(err.message).split('\n')[0].slice(0, 160)}`, target: 'websocket.drainSpreadMs supported by the gate', met: false })
  }
  const label = (s) => s === null ? 'n/a' : `${s.eld.p99.toFixed(1)} ms (max ${s.eld.max.toFixed(0)} ms)`
  rows.push({ measure: `herd: survivor event-loop delay p99, ${PER_INSTANCE * 2} sockets over two instances, the draining one's closed all at once`, result: label(flat), target: 'reference', met: true })
  if (spread !== null) {
    rows.push({ measure: `herd: survivor event-loop delay p99, closes spread over ${SPREAD_MS} ms`, result: label(spread), target: 'below all-at-once', met: spread.eld.p99 < flat.eld.p99 })
  }
  // back/drained/open on the draining instance at the signal; failed: reconnects that did not open on the way.
  const counts = (s) => `${s.back}/${s.drained}/${s.onA}, ${s.failed} failed reconnects`
  const allBack = (s) => s.drained === s.onA && s.back === s.drained
  rows.push({ measure: `herd: every drained client back after the first close, all at once (back/drained/open ${counts(flat)})`, result: `${flat.backMs} ms`, target: 'reference', met: allBack(flat) })
  if (spread !== null) {
    rows.push({ measure: `herd: every drained client back after the first close, spread (back/drained/open ${counts(spread)})`, result: `${spread.backMs} ms`, target: `every client back, within all-at-once + the spread window (${flat.backMs} + ${SPREAD_MS} ms): the last close is sent up to the window later by design`, met: allBack(spread) && spread.backMs <= flat.backMs + SPREAD_MS })
  }
  for (const s of [flat, spread]) if (s !== null && s.exitCode !== 0) rows.push({ measure: 'herd: draining instance exit code', result: String(s.exitCode), target: '0', met: false })
  return rows
}

if (process.argv.includes('--instance')) {
  await instance()
} else if (process.argv[1] === SELF) {
  const rows = await herd()
  console.table(rows)
}
