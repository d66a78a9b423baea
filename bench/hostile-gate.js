// Hostile rows of the gate (issue 16): a mass release of held upgrades, and refused sockets whose peers
// never answer. Runs alone with `node bench/hostile-gate.js` (BENCH_QUICK=1: smaller) or from bench/run.js.
import { rawUpgrade, sleep, startServer } from './lib.js'

const QUICK = process.env.BENCH_QUICK === '1'
const HELD = QUICK ? 1000 : 5000

async function until (predicate, timeout = 60_000) {
  const deadline = Date.now() + timeout
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('bench condition not met in time')
    await sleep(20)
  }
}

/** Opens `count` raw upgrades, resolves with the sockets and a count of those answered 101. */
async function openRaw (port, path, count) {
  const sockets = []
  let switched = 0
  for (let i = 0; i < count; i++) {
    const socket = await rawUpgrade(port, path)
    socket.on('error', () => {})
    socket.once('data', (chunk) => { if (chunk.toString('latin1').startsWith('HTTP/1.1 101')) switched++ })
    sockets.push(socket)
  }
  return { sockets, switched: () => switched }
}

async function release (batch) {
  const server = await startServer('suite-release', { RELEASE_BATCH: String(batch) })
  try {
    const { sockets, switched } = await openRaw(server.port, '/ws', HELD)
    await until(async () => (await server.get('/__bench/held')).held === HELD)
    await server.get('/__bench/up')
    await until(async () => switched() === HELD)
    const loop = await server.get('/__bench/loop')
    for (const s of sockets) s.destroy()
    return loop
  } finally { await server.stop() }
}

async function refusing () {
  const count = QUICK ? 500 : 2000
  const server = await startServer('suite-refusing', {}, ['--expose-gc'])
  try {
    await sleep(200)
    const before = await server.get('/__bench/memory')
    const { sockets, switched } = await openRaw(server.port, '/ws', count)
    await until(async () => switched() === count)
    const after = await server.get('/__bench/memory')
    for (const s of sockets) s.destroy()
    return { heap: (after.heapUsed - before.heapUsed) / count / 1024, rss: (after.rss - before.rss) / count / 1024, count }
  } finally { await server.stop() }
}

export async function hostileGate () {
  const rows = []
  const allAtOnce = await release(HELD)
  const batched = await release(64)
  rows.push({
    measure: `event-loop delay while ${HELD} held upgrades are released (each a handshake + handler)`,
    result: `all in one turn: p99 ${allAtOnce.p99.toFixed(1)} ms, max ${allAtOnce.max.toFixed(1)} ms; releaseBatch 64 (default): p99 ${batched.p99.toFixed(1)} ms, max ${batched.max.toFixed(1)} ms`,
    target: 'max below 100 ms with the default',
    met: batched.max < 100
  })
  const mem = await refusing()
  rows.push({
    measure: `memory per accept-then-close socket whose peer never answers the 1013 (${mem.count} peers)`,
    result: `${mem.heap.toFixed(2)} KiB heap, ${mem.rss.toFixed(2)} KiB RSS each; bounded by maxHeld (default 1000) and cut after refusedCloseTimeoutMs (default 1 s) instead of ws's 30 s`,
    target: 'reported (count bounded by maxHeld, lifetime by refusedCloseTimeoutMs)',
    met: null
  })
  return rows
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await hostileGate()) console.log(`${row.measure}: ${row.result} [target ${row.target}: ${row.met ? 'met' : 'MISSED'}]`)
}
