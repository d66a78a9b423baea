// npm run bench: every figure is a ratio or a time measured in this one run, on this machine, against
// plain Fastify and the libraries users would pick instead. Servers run in their own processes; the load
// generator runs here. Loopback only; every loop is bounded.
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import os from 'node:os'
import WebSocket from 'ws'
import { Readiness } from 'fastify-readiness'
import { mean, openSocket, percentile, rawUpgrade, sleep, startServer, throughput, upgradesPerSecond } from './lib.js'

const QUICK = process.env.BENCH_QUICK === '1'
const DURATION = QUICK ? 1 : 3
const rows = []
const note = (row) => { rows.push(row); console.log(`  ${row.measure}: ${row.result}  [target ${row.target}: ${row.met ? 'met' : 'MISSED'}]`) }
const pct = (x) => `${(x * 100).toFixed(1)}%`

async function withServer (variant, fn, env, nodeArgs) {
  const server = await startServer(variant, env, nodeArgs)
  try { return await fn(server) } finally { await server.stop() }
}

async function ordinaryRoutes () {
  console.log('1. cost on ordinary routes')
  const plain = []
  const suite = []
  // ABBA order, so neither side always runs first on a colder or warmer machine.
  for (const first of ['plain', 'suite', 'suite', 'plain']) {
    const rate = await withServer(first, (s) => throughput(`${s.base}/static`, { duration: DURATION }))
    ;(first === 'plain' ? plain : suite).push(rate)
  }
  const ratio = mean(suite) / mean(plain)
  note({ measure: 'plain route, suite registered vs plain Fastify', result: `${Math.round(mean(suite))} vs ${Math.round(mean(plain))} req/s (${pct(ratio)})`, target: 'within 2%', met: ratio >= 0.98 })
}

async function gatedUpgrades () {
  console.log('2. cost on gated routes')
  const results = await withServer('suite', async (s) => {
    await sleep(200)
    const gated = []
    const ungated = []
    await upgradesPerSecond(`${s.ws}/ws-ungated`, { seconds: 1 }) // warm-up, not counted
    for (const which of ['gated', 'ungated', 'ungated', 'gated']) {
      const rate = await upgradesPerSecond(`${s.ws}/${which === 'gated' ? 'ws' : 'ws-ungated'}`, { seconds: DURATION })
      ;(which === 'gated' ? gated : ungated).push(rate)
    }
    return { gated: mean(gated), ungated: mean(ungated) }
  })
  const ratio = results.gated / results.ungated
  note({ measure: 'upgrades/s, gated vs ungated route (ready)', result: `${Math.round(results.gated)} vs ${Math.round(results.ungated)} upgrades/s (${pct(ratio)})`, target: 'within 5%', met: ratio >= 0.95 })
}

async function healthRoutes () {
  console.log('3. health route cost')
  const ours = await withServer('suite', async (s) => {
    await sleep(200)
    await throughput(`${s.base}/static`, { duration: 1 }) // warm-up, not counted
    const ready = []
    const fixed = []
    for (const which of ['ready', 'static', 'static', 'ready']) {
      const rate = await throughput(`${s.base}${which === 'ready' ? '/health/ready' : '/static'}`, { duration: DURATION })
      ;(which === 'ready' ? ready : fixed).push(rate)
    }
    return { ready: mean(ready), static: mean(fixed) }
  })
  const ratio = ours.ready / ours.static
  note({ measure: '/health/ready vs a static route, same server', result: `${Math.round(ours.ready)} vs ${Math.round(ours.static)} req/s (${pct(ratio)})`, target: '>= 90%', met: ratio >= 0.9 })
  const underPressure = await withServer('under-pressure', (s) => throughput(`${s.base}/status`, { duration: DURATION }))
  const terminus = await withServer('terminus', (s) => throughput(`${s.base}/healthcheck`, { duration: DURATION }))
  const lightship = await withServer('lightship', (s) => throughput(`${s.base}/ready`, { duration: DURATION }))
  note({
    measure: 'readiness endpoint throughput vs alternatives',
    result: `fastify-readiness ${Math.round(ours.ready)}, @fastify/under-pressure /status ${Math.round(underPressure)}, @godaddy/terminus ${Math.round(terminus)}, lightship /ready ${Math.round(lightship)} req/s`,
    target: 'comparison',
    met: true
  })
}

async function dependencyLoad () {
  console.log('4. dependency load under a health-check storm')
  const storm = async (variant, path) => withServer(variant, async (s) => {
    await sleep(300)
    const before = (await s.get('/__bench/probe-calls')).probeCalls
    const started = Date.now()
    const rate = await throughput(`${s.base}${path}`, { duration: DURATION })
    const calls = (await s.get('/__bench/probe-calls')).probeCalls - before
    return { rate, callsPerSecond: calls / ((Date.now() - started) / 1000) }
  })
  const ours = await storm('suite', '/health/ready')
  const terminus = await storm('terminus', '/healthcheck')
  note({
    measure: 'dependency checks/s while /health/ready is hammered',
    result: `fastify-readiness ${ours.callsPerSecond.toFixed(1)} checks/s at ${Math.round(ours.rate)} req/s (interval 2 s) vs terminus ${Math.round(terminus.callsPerSecond)} checks/s at ${Math.round(terminus.rate)} req/s`,
    target: 'bounded by the probe interval',
    met: ours.callsPerSecond <= 1
  })
}

async function propagation () {
  console.log('5. readiness propagation')
  const times = []
  for (let i = 0; i < (QUICK ? 2 : 5); i++) {
    const dep = createServer((socket) => socket.destroy())
    const depPort = await new Promise((resolve) => { const probe = createServer(); probe.listen(0, '127.0.0.1', () => { const p = probe.address().port; probe.close(() => resolve(p)) }) })
    times.push(await withServer('suite-dependency', async (s) => {
      await sleep(200)
      const up = Date.now()
      await new Promise((resolve) => dep.listen(depPort, '127.0.0.1', resolve))
      while ((await fetch(`${s.base}/health/ready`)).status !== 200) await sleep(1)
      return Date.now() - up
    }, { DEP_PORT: String(depPort) }))
    await new Promise((resolve) => dep.close(resolve))
  }
  note({ measure: 'dependency reachable -> /health/ready 200 (default options)', result: `median ${percentile(times, 50)} ms, max ${Math.max(...times)} ms over ${times.length} cold starts`, target: 'under 100 ms', met: Math.max(...times) < 100 })

  const latencies = await withServer('suite-hold', async (s) => {
    const opened = []
    const held = Array.from({ length: 200 }, () => openSocket(`${s.ws}/ws`).then((ws) => { opened.push(Date.now()); return ws }))
    while ((await s.get('/__bench/held')).held < 200) await sleep(10)
    await s.get('/__bench/up')
    const sockets = await Promise.all(held)
    const { readyAt } = await s.get('/__bench/ready-at')
    for (const ws of sockets) ws.terminate()
    return opened.map((t) => t - readyAt)
  })
  note({ measure: 'ready -> 200 held upgrades open', result: `p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms`, target: 'p99 under 50 ms', met: percentile(latencies, 99) < 50 })
}

async function startup () {
  console.log('6. startup')
  const step = (ms) => () => new Promise((resolve) => setTimeout(resolve, ms))
  const graph = { a: 100, b: 120, c: 80, d: 50 } // a, b, c in parallel; d after a and b
  const silent = { debug () {}, info () {}, warn () {}, error () {} }
  const readiness = new Readiness(null, silent)
  readiness.addPhases([
    { name: 'a', after: [], probes: [], run: step(graph.a), timeout: 5000 },
    { name: 'b', after: [], probes: [], run: step(graph.b), timeout: 5000 },
    { name: 'c', after: [], probes: [], run: step(graph.c), timeout: 5000 },
    { name: 'd', after: ['a', 'b'], probes: [], run: step(graph.d), timeout: 5000 }
  ])
  let started = performance.now()
  await readiness.startup()
  const wall = performance.now() - started
  started = performance.now()
  for (const ms of Object.values(graph)) await step(ms)()
  const sequential = performance.now() - started
  const critical = graph.b + graph.d
  await readiness.close()
  note({ measure: 'phase graph wall time vs its critical path and vs sequential', result: `${wall.toFixed(1)} ms vs critical path ${critical} ms (+${(wall - critical).toFixed(1)} ms) vs sequential ${sequential.toFixed(1)} ms`, target: 'within 10 ms of the critical path', met: wall - critical <= 10 })
}

async function memory () {
  console.log('7. memory')
  const COUNT = QUICK ? 500 : 2000
  const perConnection = async (variant, open, waitFor) => withServer(variant, async (s) => {
    await sleep(300)
    const before = await s.get('/__bench/memory')
    const conns = await open(s)
    if (waitFor) await waitFor(s)
    await sleep(300)
    const after = await s.get('/__bench/memory')
    for (const c of conns) c.destroy?.() ?? c.terminate()
    return { heap: (after.heapUsed - before.heapUsed) / COUNT, rss: (after.rss - before.rss) / COUNT }
  }, {}, ['--expose-gc'])
  const held = await perConnection('suite-hold', async (s) => { const socks = []; for (let i = 0; i < COUNT; i++) socks.push(await rawUpgrade(s.port, '/ws')); return socks },
    async (s) => { while ((await s.get('/__bench/held')).held < COUNT) await sleep(20) })
  const openSockets = async (url) => { const socks = []; for (let i = 0; i < COUNT; i += 100) socks.push(...await Promise.all(Array.from({ length: 100 }, () => openSocket(url)))); return socks }
  const gated = await perConnection('suite', (s) => openSockets(`${s.ws}/ws`))
  const plainWs = await perConnection('plain', (s) => openSockets(`${s.ws}/ws`))
  const kib = (b) => `${(b / 1024).toFixed(2)} KiB`
  note({ measure: `heap per held upgrade (hold mode, ${COUNT} held)`, result: `${kib(held.heap)} heap, ${kib(held.rss)} RSS (an open plain ws socket: ${kib(plainWs.heap)} heap)`, target: 'under 8 KiB beyond ws', met: held.heap - plainWs.heap < 8192 })
  note({ measure: `heap per open gated socket vs plain @fastify/websocket (${COUNT} open)`, result: `${kib(gated.heap)} vs ${kib(plainWs.heap)} heap (+${kib(gated.heap - plainWs.heap)})`, target: 'small', met: gated.heap - plainWs.heap < 2048 })
}

async function reconnection () {
  console.log('8. reject-mode reconnection')
  const CLIENTS = QUICK ? 200 : 1000
  const policies = [['the suite\'s Retry-After', null], ['fixed 1 s', 1], ['fixed 10 s (under-pressure default)', 10]]
  const results = []
  for (const [label, fixed] of policies) {
    results.push([label, await withServer('suite-coldstart', async (s) => {
      const inAt = []
      await Promise.all(Array.from({ length: CLIENTS }, async () => {
        for (let attempt = 0; attempt < 50; attempt++) {
          const outcome = await new Promise((resolve) => {
            const ws = new WebSocket(`${s.ws}/ws`)
            ws.once('open', () => { ws.terminate(); resolve({ in: true }) })
            ws.once('unexpected-response', (_req, res) => { res.resume(); ws.terminate(); resolve({ in: false, retryAfter: Number(res.headers['retry-after']) }) })
            ws.once('error', () => resolve({ in: false, retryAfter: 1 }))
          })
          if (outcome.in) { inAt.push(Date.now()); return }
          await sleep((fixed ?? outcome.retryAfter) * 1000)
        }
      }))
      const { readyAt } = await s.get('/__bench/ready-at')
      return Math.max(...inAt) - readyAt
    }, { STARTUP_MS: '2500' })])
  }
  const ours = results[0][1]
  note({ measure: `ready -> all ${CLIENTS} reject-mode clients in (2.5 s cold start)`, result: results.map(([l, ms]) => `${l}: ${ms} ms`).join('; '), target: 'best of the three', met: results.every(([, ms]) => ours <= ms + 100) })
}

const started = Date.now()
console.log(`fastify-readiness benchmarks${QUICK ? ' (quick)' : ''}: ${os.cpus().length} cores, ${os.cpus()[0]?.model}, Node ${process.version}`)
for (const bench of [ordinaryRoutes, gatedUpgrades, healthRoutes, dependencyLoad, propagation, startup, memory, reconnection]) await bench()
const seconds = Math.round((Date.now() - started) / 1000)

const versions = async (name) => (await import(`${name}/package.json`, { with: { type: 'json' } }).catch(() => ({ default: { version: '?' } }))).default.version
const table = ['| # | measure | result | target | |', '| --- | --- | --- | --- | --- |', ...rows.map((r, i) => `| ${i + 1} | ${r.measure} | ${r.result} | ${r.target} | ${r.met ? 'met' : '**missed**'} |`)].join('\n')
console.log(`\n${table}\n\n(${seconds} s)`)
if (!QUICK) {
  writeFileSync(new URL('../docs/benchmarks.md', import.meta.url), `# Benchmarks

\`npm run bench\`, ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} cores (${os.cpus()[0]?.model}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, Node ${process.version};
fastify ${await versions('fastify')}, @fastify/websocket ${await versions('@fastify/websocket')}, ws ${await versions('ws')}. The run took ${seconds} s.

Method: each server variant runs in its own process (\`bench/server.js\`); the load generator (autocannon for
HTTP, real \`ws\` clients for WebSockets) runs in \`bench/run.js\`. Loopback only. Every comparison is measured in
the same run on the same machine; throughput comparisons run their two sides in ABBA order (${DURATION} s each)
after a warm-up and report the mean. Memory is measured in the server after \`gc()\`, divided by the number of
connections. Figures move by a few percent between runs on a 2-core machine where client and server share the
CPU: read the ratios, not the absolute numbers.

${table}

Notes:
- 3: @fastify/under-pressure's status route and terminus run their health check on the request path (terminus
  on every request); lightship serves its own Fastify server on a separate port.
- 4: the suite's probe runs on its interval whatever the request rate; terminus runs the check once per request.
- 7: a held upgrade is a TCP socket, Node's request object and Fastify's request and reply, parked before the
  WebSocket exists; "beyond ws" compares it with a fully open plain \`ws\` socket.
- 8: clients retry until they get in; "the suite's Retry-After" honours the header, the others wait a fixed time.
`)
  console.log('written: docs/benchmarks.md')
}
