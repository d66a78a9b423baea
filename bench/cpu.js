// bench/cpu.js (issue 24): the server's CPU time per request on an ordinary route, plain Fastify against the
// suite with its defaults and against each part alone, plus a gated upgrade against an ungated one and
// /health/ready against a static route. CPU per request (process.cpuUsage of the server process over an
// autocannon run) rather than requests per second: on a shared 2-core machine the load generator and
// other work steal cores, which moves throughput far more than it moves the server's own CPU per request.
// Every variant runs in its own process, all started at once; the rounds alternate the order (ABBA...),
// each ratio pairs measurements taken next to each other, and the report gives the median ratio and its
// spread (the middle half of the rounds), so a figure is only read against a target when the spread is
// smaller than the margin it judges.
//   node bench/cpu.js                 (CPU_ROUNDS=8 CPU_SECONDS=2 CPU_VARIANTS=plain,suite,... to change)
// Needs the build (dist/): npm run build.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { measured, upgrades } from './lib.js'
import { installSdk } from './otel.js'

const SELF = fileURLToPath(import.meta.url)
const ROUNDS = Number(process.env.CPU_ROUNDS ?? 8)
const SECONDS = Number(process.env.CPU_SECONDS ?? 2)
const CONNECTIONS = 10

export const OTEL = 'suite with OpenTelemetry SDK'

/** The suite's options per variant; `null` is plain Fastify. Every variant has @fastify/websocket. */
const OFF = { shutdown: false, metrics: false, health: false, websocket: false }
const VARIANTS = {
  plain: null,
  suite: {},
  'core only': { ...OFF },
  'shutdown alone': { ...OFF, shutdown: { signals: false } },
  'gate alone': { ...OFF, websocket: {} },
  'health alone': { ...OFF, health: {} },
  'metrics alone': { ...OFF, metrics: {} },
  // The suite with a real OpenTelemetry SDK installed (bench/instructions.js compares it with the suite alone).
  [OTEL]: {}
}

async function serve (name) {
  const { default: Fastify } = await import('fastify')
  const { default: websocket } = await import('@fastify/websocket')
  const { default: readiness } = await import('fastify-readiness')
  const options = VARIANTS[name]
  const app = Fastify({ logger: false })
  await app.register(websocket)
  // MeterProvider and the Prometheus exporter as an app would install them, the exporter read through a
  // route here rather than its own port; the suite's metrics plugin finds the SDK through the global API.
  const exporter = name === OTEL ? await installSdk({ preventServerStart: true }) : null
  if (options !== null) await app.register(readiness, { probes: { dep: async () => {} }, ...options })
  const gated = options !== null && options.websocket !== false
  const ungated = gated ? { readiness: false } : {}
  const echo = (socket) => { socket.on('message', (m) => socket.send(m)) }
  app.get('/hello', async () => ({ hello: 'world' }))
  app.get('/static', async () => ({ hello: 'world' }))
  // Without the suite's health routes, the health check an app would write itself: every variant then
  // takes the same warm-up traffic (bench/instructions.js).
  if (options === null || options.health === false) app.get('/health/ready', async () => ({ status: 'ok' }))
  app.get('/ws', { websocket: true }, echo)
  app.get('/ws-ungated', { websocket: true, ...ungated }, echo)
  if (exporter !== null) app.get('/__bench/metrics', ungated, (request, reply) => { reply.hijack(); exporter.getMetricsRequestHandler(request.raw, reply.raw) })
  app.get('/__bench/cpu', ungated, async () => { const { user, system } = process.cpuUsage(); return { micros: user + system } })
  // bench/instructions.js starts each counted round from an empty young generation (node --expose-gc).
  app.get('/__bench/gc', ungated, async () => { globalThis.gc?.({ type: 'minor' }); return { gc: typeof globalThis.gc === 'function' } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  if (options !== null) await app.readiness.waitFor(undefined, { timeoutMs: 10_000 })
  console.log(JSON.stringify({ port: app.server.address().port }))
}

async function start (name) {
  const child = spawn(process.execPath, [SELF], { env: { ...process.env, CPU_BENCH_SERVER: name }, stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      out += chunk
      const line = out.split('\n').find((l) => l.startsWith('{"port"'))
      if (line) resolve(JSON.parse(line).port)
    })
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)))
  })
  return { name, base: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2 }
const quartiles = (xs) => { const s = [...xs].sort((a, b) => a - b); return [s[Math.floor((s.length - 1) / 4)], s[Math.ceil((s.length - 1) * 3 / 4)]] }
const pct = (x) => `${(x * 100).toFixed(1)}%`

/** Ratios baseline/candidate CPU per request, one per round, ABBA order across the rounds. */
async function paired (label, baseline, candidate, target) {
  const ratios = []
  let cpuA = 0
  let cpuB = 0
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [baseline, candidate] : [candidate, baseline]
    const got = new Map()
    for (const run of order) got.set(run, await run.measure())
    ratios.push(got.get(baseline) / got.get(candidate))
    cpuA += got.get(baseline) / ROUNDS
    cpuB += got.get(candidate) / ROUNDS
  }
  const [q1, q3] = quartiles(ratios)
  const m = median(ratios)
  const row = { measure: label, median: m, spread: [q1, q3], cpuMicros: { candidate: cpuB, baseline: cpuA }, target, met: m >= target, conclusive: q1 >= target || q3 < target }
  console.log(`  ${label}: ${pct(m)} (middle half ${pct(q1)}..${pct(q3)}; ${cpuB.toFixed(1)} vs ${cpuA.toFixed(1)} µs per request) [target ${pct(target)}: ${row.met ? 'met' : 'MISSED'}${row.conclusive ? '' : ', spread straddles the target'}]`)
  return row
}

async function main () {
  const names = process.env.CPU_VARIANTS?.split(',') ?? Object.keys(VARIANTS)
  if (!names.includes('plain')) names.unshift('plain')
  if (!names.includes('suite')) names.push('suite')
  const servers = new Map()
  try {
    for (const name of names) servers.set(name, await start(name))
    const route = (server) => ({ measure: async () => (await measured(`${server.base}/hello`, { duration: SECONDS, connections: CONNECTIONS })).cpuPerRequest })
    for (const server of servers.values()) await measured(`${server.base}/hello`, { duration: 1, connections: CONNECTIONS }) // warm-up
    console.log(`CPU per request, ${ROUNDS} rounds of ${SECONDS} s, ABBA (ratio = plain / variant: 100% costs nothing)`)
    const rows = []
    const plain = route(servers.get('plain'))
    for (const name of names.filter((n) => n !== 'plain')) {
      rows.push(await paired(`GET /hello, ${name} vs plain Fastify`, plain, route(servers.get(name)), 0.98))
    }
    const suite = servers.get('suite')
    const handshake = (path) => ({ measure: async () => (await upgrades(`${suite.ws}${path}`, { seconds: SECONDS, concurrency: 20 })).cpuPerRequest })
    await upgrades(`${suite.ws}/ws-ungated`, { seconds: 1, concurrency: 20 })
    rows.push(await paired('WebSocket upgrade, gated (ready) vs ungated', handshake('/ws-ungated'), handshake('/ws'), 0.95))
    const get = (path) => ({ measure: async () => (await measured(`${suite.base}${path}`, { duration: SECONDS, connections: CONNECTIONS })).cpuPerRequest })
    rows.push(await paired('GET /health/ready vs a static route', get('/static'), get('/health/ready'), 0.90))
    if (process.env.CPU_JSON !== undefined) console.log(JSON.stringify(rows))
    return rows
  } finally {
    for (const server of servers.values()) server.stop()
  }
}

export { main as cpuBench }

// Last, so that every const above is initialised before the top-level await runs.
if (process.env.CPU_BENCH_SERVER !== undefined) await serve(process.env.CPU_BENCH_SERVER)
else if (process.argv[1] === SELF) await main()
