import { spawn } from 'node:child_process'
import { connect as tcp } from 'node:net'
import autocannon from 'autocannon'
import WebSocket from 'ws'

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const SERVER = new URL('./server.js', import.meta.url).pathname

/** Starts bench/server.js with a variant in its own process; resolves once it listens. */
export async function startServer (variant, env = {}, nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, SERVER], { env: { ...process.env, BENCH_VARIANT: variant, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      out += chunk
      const line = out.split('\n').find((l) => l.startsWith('{"port"'))
      if (line) resolve(JSON.parse(line).port)
    })
    child.once('exit', (code) => reject(new Error(`server ${variant} exited with ${code}`)))
  })
  const base = `http://127.0.0.1:${port}`
  return {
    port,
    base,
    ws: `ws://127.0.0.1:${port}`,
    get: async (path) => (await fetch(`${base}${path}`)).json(),
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
  }
}

/** Requests per second of one URL under autocannon. */
export async function throughput (url, { duration = 3, connections = 50 } = {}) {
  return (await measured(url, { duration, connections })).rate
}

/**
 * Throughput and the server's own CPU time per request. On a small machine where the load generator and the
 * server share cores, CPU per request is the steadier figure: it does not depend on who got scheduled.
 */
export async function measured (url, { duration = 3, connections = 50 } = {}) {
  const base = new URL(url).origin
  const cpu = async () => (await (await fetch(`${base}/__bench/cpu`)).json()).micros
  const before = await cpu()
  const result = await autocannon({ url, duration, connections, pipelining: 1 })
  const after = await cpu()
  if (result.non2xx > 0 && !url.includes('health')) throw new Error(`${url}: ${result.non2xx} non-2xx answers`)
  return { rate: result.requests.average, cpuPerRequest: (after - before) / Math.max(1, result.requests.total) }
}

/** Completed WebSocket handshakes per second (open, then close) with `concurrency` clients in a loop. */
export async function upgradesPerSecond (url, options) {
  return (await upgrades(url, options)).rate
}

/** Handshakes per second, and the server's CPU time per handshake. */
export async function upgrades (url, { seconds = 3, concurrency = 50 } = {}) {
  const base = url.replace(/^ws/, 'http').replace(/(\/\/[^/]+).*/, '$1')
  const cpu = async () => (await (await fetch(`${base}/__bench/cpu`)).json()).micros
  const before = await cpu()
  const rate = await loop(url, seconds, concurrency)
  const after = await cpu()
  return { rate, cpuPerRequest: (after - before) / Math.max(1, rate * seconds) }
}

async function loop (url, seconds, concurrency) {
  const until = Date.now() + seconds * 1000
  let done = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < until) {
      await new Promise((resolve, reject) => {
        const ws = new WebSocket(url)
        ws.once('open', () => { done++; ws.close(); resolve() })
        ws.once('error', reject)
      })
    }
  }))
  return done / seconds
}

/** Opens a raw upgrade request and leaves it waiting (for held-upgrade memory). */
export function rawUpgrade (port, path) {
  return new Promise((resolve, reject) => {
    const socket = tcp({ port, host: '127.0.0.1' }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
      resolve(socket)
    })
    socket.on('error', reject)
  })
}

export function openSocket (url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

export function percentile (values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

export const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length
