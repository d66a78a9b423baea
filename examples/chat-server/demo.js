// npm run demo: the incident reproduced, then cured. Each variant of the chat server is started as a
// cold start (a real process) and stormed by real ws clients from the first millisecond.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import WebSocket from 'ws'

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

/** One user: keeps trying until its message is acknowledged, as a patient real client would. */
async function user (id, url, stats, start, deadline) {
  const events = stats.events
  while (Date.now() < deadline) {
    stats.attempts++
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
    if (outcome.kind === 'in') { stats.in.push(Date.now()); events.push([at, 'in']); return }
    if (outcome.kind === 'refused') { stats.refused++; events.push([at, 'refused']); await sleep(outcome.retryAfter * 1000); continue }
    if (outcome.kind === 'closed') {
      if (outcome.code === 1011) { stats.code1011++; events.push([at, '1011']) }
      if (outcome.lost) stats.lost++
      await sleep(1000)
      continue
    }
    events.push([at, 'no-listener'])
    await sleep(50) // not listening yet
  }
  stats.neverIn++
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
      try { const l = JSON.parse(line); if (l.msg === 'store ready') readyAt = l.readyAt } catch {}
    }
  })
  const stats = { attempts: 0, accepted: [], in: [], refused: 0, code1011: 0, lost: 0, neverIn: 0, events: [] }
  const progress = setInterval(() => {
    process.stdout.write(`\r  ${variant.name.padEnd(22)} ${String(stats.in.length).padStart(4)}/${CLIENTS} in, ${String(stats.attempts).padStart(5)} attempts, ${stats.code1011} x 1011, ${stats.refused} x 503   `)
  }, 200)
  const deadline = start + DEADLINE_MS
  // A room per client: each ack goes to its sender only, so the figures measure the gate, not broadcast fan-out.
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => user(i, `ws://127.0.0.1:${port}/chat/room-${i}`, stats, start, deadline)))
  clearInterval(progress)
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  const row = {
    variant: variant.name,
    attempts: stats.attempts,
    acceptedBeforeReady: readyAt === null ? stats.accepted.length : stats.accepted.filter((t) => t < readyAt).length,
    closes1011: stats.code1011,
    refused503: stats.refused,
    neverIn: stats.neverIn,
    readyToAllInMs: readyAt === null || stats.in.length === 0 ? null : Math.max(...stats.in) - readyAt,
    lost: stats.lost,
    readyAtMs: readyAt === null ? null : readyAt - start,
    events: stats.events
  }
  process.stdout.write(`\r  ${variant.name.padEnd(22)} done${' '.repeat(60)}\n`)
  return row
}

function table (rows) {
  const head = ['variant', 'attempts', 'upgrades accepted before ready', '1011 closes', 'refused with 503', 'never got in', 'ready → all in', 'messages lost']
  const body = rows.map((r) => [r.variant, r.attempts, r.acceptedBeforeReady, r.closes1011, r.refused503, r.neverIn, r.readyToAllInMs === null ? '—' : `${r.readyToAllInMs} ms`, r.lost])
  return [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

function timeline (rows) {
  const width = 900
  const rowHeight = 70
  const left = 170
  const maxMs = Math.max(...rows.flatMap((r) => r.events.map(([t]) => t)), 1000)
  const x = (ms) => left + (ms / maxMs) * (width - left - 20)
  const colors = { in: '#2e7d32', refused: '#f9a825', 1011: '#c62828', 'no-listener': '#9e9e9e' }
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${rows.length * rowHeight + 70}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>']
  rows.forEach((r, i) => {
    const y = 30 + i * rowHeight
    parts.push(`<text x="10" y="${y + 25}">${r.variant}</text>`)
    parts.push(`<line x1="${left}" y1="${y + 45}" x2="${width - 20}" y2="${y + 45}" stroke="#ccc"/>`)
    for (const [t, kind] of r.events) {
      const lane = { in: 10, refused: 20, 1011: 30, 'no-listener': 40 }[kind]
      parts.push(`<circle cx="${x(t).toFixed(1)}" cy="${y + lane}" r="1.6" fill="${colors[kind]}" opacity="0.6"/>`)
    }
    if (r.readyAtMs !== null) parts.push(`<line x1="${x(r.readyAtMs)}" y1="${y}" x2="${x(r.readyAtMs)}" y2="${y + 48}" stroke="#1565c0" stroke-dasharray="4 2"/>`)
  })
  const legendY = rows.length * rowHeight + 45
  let lx = left
  for (const [label, color] of [['in (acknowledged)', colors.in], ['refused 503', colors.refused], ['closed 1011', colors[1011]], ['not listening yet', colors['no-listener']], ['dependency ready', '#1565c0']]) {
    parts.push(`<circle cx="${lx}" cy="${legendY}" r="4" fill="${color}"/><text x="${lx + 8}" y="${legendY + 4}">${label}</text>`)
    lx += 140
  }
  parts.push(`<text x="${left}" y="${legendY + 20}" fill="#555">time since the server process started: 0 to ${maxMs} ms</text>`)
  parts.push('</svg>')
  return parts.join('\n')
}

console.log(`Cold start demo: ${CLIENTS} ws clients per variant from the first millisecond, store warm-up ${WARMUP_MS} ms`)
const rows = []
for (const variant of VARIANTS) rows.push(await run(variant))
const markdown = table(rows)
console.log(`\n${markdown}\n`)
const docs = new URL('../../docs/', import.meta.url)
writeFileSync(new URL('demo-results.md', docs), `# Cold start demo results

\`npm run demo\` on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}: ${CLIENTS} real \`ws\`
clients per variant connect from the first millisecond of a cold start (store warm-up ${WARMUP_MS} ms), each
retrying until its message is acknowledged (honouring \`Retry-After\` on a 503, waiting 1 s after a failure).

${markdown}

- **naive**: the server accepts upgrades while its store warms up and its handler closes them with 1011: the incident.
- **reject + Retry-After**: upgrades before ready get 503 with \`Retry-After\`; clients come back as told.
- **hold**: upgrades before ready are parked and let through the moment the app is ready.

![timeline of connection outcomes over the cold start](demo-timeline.svg)
`)
writeFileSync(new URL('demo-timeline.svg', docs), timeline(rows))
console.log('written: docs/demo-results.md, docs/demo-timeline.svg')
