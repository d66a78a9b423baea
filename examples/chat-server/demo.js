// npm run demo: the incident reproduced, then cured. Each variant of the chat server is started as a
// cold start (a real process) and stormed by real ws clients from the first millisecond.
//
// Results go to a fresh directory under the system's temp dir (printed at the end), never over tracked
// files; DEMO_OUT=docs writes docs/demo-results.md and docs/demo-timeline.svg instead, and says so.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { timelineSvg } from './demo-timeline.js'

const CLIENTS = Number(process.env.DEMO_CLIENTS ?? 300)
const WARMUP_MS = Number(process.env.DEMO_WARMUP_MS ?? 2000)
const DEADLINE_MS = 20_000
const VARIANTS = [
  { name: 'naive (no suite)', env: { GATE: 'off' } },
  { name: 'reject + Retry-After', env: { GATE_MODE: 'reject' } },
  { name: 'hold', env: { GATE_MODE: 'hold' } }
]
const server = new URL('./server.js', import.meta.url).pathname
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function freePort () {
  const s = createServer()
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address()
  await new Promise((resolve) => s.close(resolve))
  return port
}

/**
 * One user: keeps trying until its message is acknowledged, as a patient real client would. Every
 * attempt is an event on the timeline; the client itself is counted once, by the first answer it got
 * from the server (connection refused while the process starts is not an answer).
 */
async function user (id, url, stats, start, deadline, readyAt) {
  const events = stats.events
  let first = null
  let lost = false
  const note = (kind) => { first ??= kind }
  while (Date.now() < deadline && !stats.serverGone) {
    stats.attempts++
    const attemptStart = Date.now()
    const outcome = await new Promise((resolve) => {
      const ws = new WebSocket(url, { handshakeTimeout: 10_000 })
      let opened = false
      let sent = null
      ws.on('unexpected-response', (_req, res) => {
        res.resume()
        resolve({ kind: 'refused', status: res.statusCode, retryAfter: Number(res.headers['retry-after'] ?? 1) })
        ws.terminate()
      })
      ws.on('error', (err) => { if (!opened) resolve({ kind: 'error', code: err.code }) })
      ws.on('open', () => {
        opened = true
        stats.accepted.push(Date.now())
        sent = `hello from ${id}`
        ws.send(sent)
      })
      ws.on('message', (data) => {
        if (JSON.parse(String(data)).text === sent) { sent = null; resolve({ kind: 'in' }); ws.close(1000) }
      })
      ws.on('close', (code) => { if (opened && sent !== null) resolve({ kind: 'closed', code, lost: true }) })
    })
    const at = Date.now() - start
    if (outcome.kind === 'in') {
      // Waited: the handshake began before the store was ready and completed after it (held by the gate, or queued).
      const held = readyAt() !== null && attemptStart < readyAt() && Date.now() >= readyAt()
      note(held ? 'held' : 'in')
      stats.in.push(Date.now())
      events.push([at, 'in'])
      break
    }
    if (outcome.kind === 'refused') { note('refused'); events.push([at, 'refused']); await sleep(outcome.retryAfter * 1000); continue }
    if (outcome.kind === 'closed') {
      note(outcome.code === 1011 ? '1011' : 'closed')
      events.push([at, outcome.code === 1011 ? '1011' : 'closed'])
      if (outcome.lost) lost = true
      await sleep(1000)
      continue
    }
    // Not listening yet is the process starting, not an answer of the server: it does not count as a first outcome.
    events.push([at, 'no-listener'])
    await sleep(50) // not listening yet
  }
  stats.first[first ?? 'no-listener']++
  if (lost) stats.lostClients++
}

async function run (variant) {
  const port = await freePort()
  const start = Date.now()
  const child = spawn(process.execPath, [server], { env: { ...process.env, ...variant.env, PORT: String(port), WARMUP_MS: String(WARMUP_MS), LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] })
  let readyAt = null
  let buffer = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => {
    buffer += chunk
    const lines = buffer.split('\n')
    buffer = lines.pop()
    for (const line of lines) {
      try { const l = JSON.parse(line); if (l.msg === 'store warming up' || l.msg === 'store ready') readyAt = l.readyAt } catch {}
    }
  })
  child.once('exit', (code) => { if (!stats.stopping) { stats.serverGone = true; console.error(`\n  the ${variant.name} server exited early (code ${code}): run \`npm run build\` first?`) } })
  const stats = { serverGone: false, stopping: false, attempts: 0, accepted: [], in: [], lostClients: 0, events: [], first: { in: 0, held: 0, refused: 0, 1011: 0, closed: 0, 'no-listener': 0 } }
  const count = (kind) => stats.events.filter(([, k]) => k === kind).length
  const progress = setInterval(() => {
    process.stdout.write(`\r  ${variant.name.padEnd(22)} ${String(stats.in.length).padStart(4)}/${CLIENTS} in, ${String(stats.attempts).padStart(5)} attempts, ${count('1011')} x 1011, ${count('refused')} x 503   `)
  }, 200)
  const deadline = start + DEADLINE_MS
  // A room per client: each ack goes to its sender only, so the figures measure the gate, not broadcast fan-out.
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => user(i, `ws://127.0.0.1:${port}/chat/room-${i}`, stats, start, deadline, () => readyAt)))
  clearInterval(progress)
  stats.stopping = true
  if (stats.serverGone) process.exit(1)
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  const row = {
    variant: variant.name,
    clients: CLIENTS,
    first: stats.first,
    neverIn: CLIENTS - stats.in.length,
    lostClients: stats.lostClients,
    attempts: stats.attempts,
    closes1011: count('1011'),
    refused503: count('refused'),
    readyToAllInMs: readyAt === null || stats.in.length === 0 ? null : Math.max(0, Math.max(...stats.in) - readyAt),
    readyAtMs: readyAt === null ? null : readyAt - start,
    events: stats.events
  }
  process.stdout.write(`\r  ${variant.name.padEnd(22)} done${' '.repeat(60)}\n`)
  return row
}

/**
 * One row per variant; every client is counted once, by the first outcome it saw, so the first-outcome
 * columns add up to the number of clients. Attempts and close counts over all retries come after.
 */
export function table (rows) {
  const head = ['variant', 'clients', 'first try: in at once', 'first try: waited through ready, then in', 'first try: closed 1011', 'first try: refused 503', 'no answer at all', 'never got in', 'clients that lost a message', 'all attempts (1011 / 503)', 'ready → all in']
  const body = rows.map((r) => [r.variant, r.clients, r.first.in, r.first.held, r.first[1011] + r.first.closed, r.first.refused, r.first['no-listener'], r.neverIn, r.lostClients,
    `${r.attempts} (${r.closes1011} / ${r.refused503})`, r.readyToAllInMs === null ? '—' : `${r.readyToAllInMs} ms`])
  return [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`Cold start demo: ${CLIENTS} ws clients per variant from the first millisecond, store warm-up ${WARMUP_MS} ms`)
  const rows = []
  for (const variant of VARIANTS) rows.push(await run(variant))
  const markdown = table(rows)
  console.log(`\n${markdown}\n`)
  const toDocs = process.env.DEMO_OUT === 'docs'
  const dir = toDocs ? fileURLToPath(new URL('../../docs/', import.meta.url)) : mkdtempSync(join(os.tmpdir(), 'fastify-readiness-demo-'))
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'demo-results.md'), `# Cold start demo results

\`npm run demo\` on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}: ${CLIENTS} real \`ws\`
clients per variant connect from the first millisecond of a cold start (store warm-up ${WARMUP_MS} ms), each
retrying until its message is acknowledged (honouring \`Retry-After\` on a 503, waiting 1 s after a failure).
Each client is counted once, by the first answer it got from the server (a refused TCP connection while the
process starts is not an answer): the first-try columns and "no answer at all" add up to the clients.
The last columns count every attempt, retries included.

${markdown}

- **naive**: the server accepts upgrades while its store warms up and its handler closes them with 1011: the incident.
- **reject + Retry-After**: upgrades before ready get 503 with \`Retry-After\`; clients come back as told.
- **hold**: upgrades before ready are parked and let through the moment the app is ready.

![timeline of connection outcomes over the cold start](demo-timeline.svg)

The chat page (\`npm start\`, then http://127.0.0.1:3000) shows the same cold start as it happens, the gated
route next to the naive one (screenshot from \`test/e2e-demo.test.ts\`, reject mode):

![the demo page after a cold start](demo-page.png)
`)
  writeFileSync(join(dir, 'demo-timeline.svg'), timelineSvg(rows, { clients: CLIENTS, warmupMs: WARMUP_MS }))
  console.log(toDocs
    ? 'DEMO_OUT=docs: rewrote the tracked files docs/demo-results.md and docs/demo-timeline.svg'
    : `written (tracked files untouched): ${join(dir, 'demo-results.md')}, ${join(dir, 'demo-timeline.svg')}; DEMO_OUT=docs writes them to docs/`)
}
