// Delivery figures (issue 26), from the build: resume latency (a cut socket -> the first replayed message),
// CPU per message each way for the memory and Redis stores (both ends in this process), and Redis memory per
// session (MEMORY USAGE of its keys). Loopback only, bounded counts; the Redis ones use the local Redis on
// 6379 under a private prefix, deleted at the end.
import { createServer } from 'node:http'
import { Redis } from 'ioredis'
import WebSocket, { WebSocketServer } from 'ws'
import { withDelivery, memoryDedupe, redisDedupe } from '../dist/index.js'
import { memoryOutbox, redisOutbox } from '../dist/lib/delivery/index.js'
import { ReadinessClient } from '../dist/lib/client/index.js'

const QUICK = process.env.BENCH_QUICK === '1'
const N = QUICK ? 2000 : 10_000
const ROUNDS = QUICK ? 10 : 30

async function server (stores) {
  const wss = new WebSocketServer({ noServer: true })
  const http = createServer()
  const sockets = new Set()
  http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => {
    sockets.add(ws)
    ws.on('close', () => sockets.delete(ws))
    const session = withDelivery(ws, async (text) => {
      const [verb, n, paced] = String(text).split(' ')
      if (verb !== 'stream') return
      for (let k = 1; k <= Number(n); k++) {
        session.send(`r${k}`)
        if (paced === 'paced' && k % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1))
      }
    }, stores)
  }))
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve))
  return { url: `ws://127.0.0.1:${http.address().port}/`, sockets, close: () => { for (const s of sockets) s.terminate(); wss.close(); http.close() } }
}

function until (predicate, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs
    const tick = () => predicate() ? resolve() : Date.now() > deadline ? reject(new Error('bench: condition not met')) : setTimeout(tick, 1)
    tick()
  })
}

function client (url) {
  const c = new ReadinessClient(url, { WebSocket, delivery: true, maxBuffered: N + 10, backoff: { initialMs: 1, maxMs: 2 } })
  const got = { n: 0, acked: 0, closedAt: 0, firstAfter: 0 }
  c.on('message', () => { got.n++; if (got.closedAt > 0 && got.firstAfter === 0) got.firstAfter = performance.now() })
  c.on('close', () => { got.closedAt = performance.now(); got.firstAfter = 0 })
  c.on('acked', (seq) => { got.acked = seq })
  return { c, got }
}

const cpuMs = (start) => { const u = process.cpuUsage(start); return (u.user + u.system) / 1000 }

async function perMessage (label, stores) {
  const srv = await server(stores)
  const { c, got } = client(srv.url)
  await until(() => c.state === 'open')
  let start = process.cpuUsage()
  // At most 500 unacknowledged (withDelivery's maxQueued is 1,000: beyond it a flood is closed 1013).
  for (let i = 1; i <= N; i += 500) {
    for (let k = i; k < i + 500 && k <= N; k++) c.send(`m${k}`)
    await until(() => got.acked >= Math.min(N, i + 499))
  }
  const inbound = cpuMs(start) * 1000 / N
  start = process.cpuUsage()
  c.send(`stream ${N}`)
  await until(() => got.n === N)
  const outbound = cpuMs(start) * 1000 / N
  c.close()
  srv.close()
  return [
    { measure: `CPU per message client -> server, ${label} (both ends, ${N} messages)`, result: `${inbound.toFixed(1)} us`, target: 'reported', met: true },
    { measure: `CPU per message server -> client, ${label} (both ends, ${N} messages, batched acks)`, result: `${outbound.toFixed(1)} us`, target: 'reported', met: true }
  ]
}

async function resumeLatency () {
  const srv = await server({ store: memoryDedupe(), outbox: memoryOutbox() })
  const { c, got } = client(srv.url)
  await until(() => c.state === 'open')
  const samples = []
  for (let r = 0; r < ROUNDS; r++) {
    const before = got.n
    got.closedAt = 0
    c.send('stream 200 paced')
    await until(() => got.n >= before + 50)
    for (const s of srv.sockets) s.terminate() // mid-stream
    await until(() => got.n === before + 200)
    // The first message after the close is a replayed (or forwarded) one: the client had 50-199 of 200.
    samples.push(got.firstAfter - got.closedAt)
    await until(() => c.state === 'open')
  }
  c.close()
  srv.close()
  samples.sort((a, b) => a - b)
  const p50 = samples[Math.floor(samples.length / 2)]
  return { measure: `resume latency: socket cut mid-stream -> first replayed message (memory, ${ROUNDS} cuts, backoff 1-2 ms)`, result: `median ${p50.toFixed(1)} ms, max ${samples.at(-1).toFixed(1)} ms`, target: 'reported', met: true }
}

async function redisMemory (redis, prefix) {
  const store = redisDedupe(redis, { prefix })
  const outbox = redisOutbox(redis, { prefix })
  const srv = await server({ store, outbox })
  const { c, got } = client(srv.url)
  for (let i = 1; i <= 10; i++) c.send(`m${i}`)
  await until(() => got.acked === 10)
  c.send('stream 10')
  await until(() => got.n === 10)
  await new Promise((resolve) => setTimeout(resolve, 100)) // the batched ack lands
  const keys = await redis.keys(`${prefix}${c.sessionId}*`)
  let bytes = 0
  for (const key of keys) bytes += Number(await redis.memory('USAGE', key))
  c.close()
  srv.close()
  return { measure: 'Redis memory per session (10 messages each way, all acknowledged)', result: `${bytes} bytes in ${keys.length} keys`, target: 'reported', met: true }
}

export async function delivery () {
  const rows = [await resumeLatency()]
  rows.push(...await perMessage('memory', { store: memoryDedupe(), outbox: memoryOutbox() }))
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  await redis.connect()
  const prefix = `fastify-readiness:bench:delivery:${process.pid}:`
  try {
    rows.push(...await perMessage('Redis', { store: redisDedupe(redis, { prefix }), outbox: redisOutbox(redis, { prefix }) }))
    rows.push(await redisMemory(redis, prefix))
  } finally {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  }
  return rows
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await delivery()) console.log(`${row.measure}: ${row.result} [target ${row.target}: ${row.met ? 'met' : 'MISSED'}]`)
}
