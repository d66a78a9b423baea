// The server under test, one variant per process (BENCH_VARIANT), so load generation never shares its CPU.
// Prints one JSON line {"port": N} once listening. Control routes under /__bench are never gated.
import { createServer } from 'node:http'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness, { tcpProbe } from 'fastify-readiness'

const variant = process.env.BENCH_VARIANT
const port = Number(process.env.PORT ?? 0)
let probeCalls = 0
const countedCheck = async () => { probeCalls++ }
const echo = (socket) => { socket.on('message', (m) => socket.send(m)) }

function control (app, extra = {}) {
  const ungated = { readiness: false }
  app.get('/__bench/probe-calls', ungated, async () => ({ probeCalls }))
  app.get('/__bench/cpu', ungated, async () => { const { user, system } = process.cpuUsage(); return { micros: user + system } })
  app.get('/__bench/memory', ungated, async () => {
    globalThis.gc?.()
    globalThis.gc?.()
    const { heapUsed, rss } = process.memoryUsage()
    return { heapUsed, rss }
  })
  for (const [path, handler] of Object.entries(extra)) app.get(`/__bench/${path}`, ungated, handler)
}

async function fastifyApp (withSuite, suiteOptions = {}) {
  const app = Fastify({ logger: false })
  await app.register(websocket)
  if (withSuite) await app.register(readiness, suiteOptions)
  app.get('/static', async () => ({ hello: 'world' }))
  app.get('/ws', { websocket: true }, echo)
  if (withSuite) app.get('/ws-ungated', { websocket: true, readiness: false }, echo)
  return app
}

async function main () {
  let app
  let flagUp = false
  let readyAt = null
  switch (variant) {
    case 'plain':
      app = await fastifyApp(false)
      control(app)
      break
    case 'suite':
      app = await fastifyApp(true, { probes: { dep: { check: countedCheck } } })
      control(app)
      break
    case 'suite-dependency': // readiness follows a TCP dependency the bench opens later
      app = await fastifyApp(true, { probes: { dep: tcpProbe({ port: Number(process.env.DEP_PORT) }) } })
      control(app)
      break
    case 'suite-hold': // hold mode; the dependency comes up when the bench says so
      app = await fastifyApp(true, {
        probes: { dep: async () => { if (!flagUp) throw new Error('down') } },
        websocket: { mode: 'hold', holdTimeoutMs: 120_000, maxHeld: 10_000 }
      })
      app.readiness.on('ready', () => { readyAt = Date.now() })
      control(app, {
        up: async () => { flagUp = true; return { ok: true } },
        'ready-at': async () => ({ readyAt }),
        held: async () => ({ held: app.readiness.websocket.getConnectionReadiness().held })
      })
      break
    case 'suite-release': { // BENCH: 5,000 held upgrades released at once, RELEASE_BATCH per loop turn
      // A 1 ms ticker measures how late each turn of the loop comes (its own lateness is the loop's delay).
      const gaps = []
      let ticker = null
      const loop = {
        start () { let last = performance.now(); ticker = setInterval(() => { const now = performance.now(); gaps.push(now - last - 1); last = now }, 1) },
        stop () {
          clearInterval(ticker)
          const sorted = gaps.sort((a, b) => a - b)
          return { p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0, max: sorted[sorted.length - 1] ?? 0 }
        }
      }
      app = await fastifyApp(true, {
        probes: { dep: { check: async () => { if (!flagUp) throw new Error('down') }, startIntervalMs: 5 } },
        websocket: { mode: 'hold', holdTimeoutMs: 120_000, maxHeld: 10_000, releaseBatch: Number(process.env.RELEASE_BATCH) }
      })
      control(app, {
        up: async () => { loop.start(); flagUp = true; return { ok: true } },
        held: async () => ({ held: app.readiness.websocket.getConnectionReadiness().held }),
        loop: async () => loop.stop()
      })
      break
    }
    case 'suite-refusing': // accept-then-close under silent peers
      app = await fastifyApp(true, { probes: { dep: async () => { throw new Error('down') } }, websocket: { mode: 'accept-then-close', maxHeld: 10_000, refusedCloseTimeoutMs: 60_000 } })
      control(app)
      break
    case 'suite-coldstart': { // reject mode and a startup of STARTUP_MS
      const startupMs = Number(process.env.STARTUP_MS ?? 2000)
      app = await fastifyApp(true, {
        phases: { database: () => new Promise((resolve) => setTimeout(resolve, startupMs / 2)), websocket: { after: ['database'], run: () => new Promise((resolve) => setTimeout(resolve, startupMs / 2)) } },
        websocket: { mode: 'reject' }
      })
      app.readiness.on('ready', () => { readyAt = Date.now() })
      control(app, { 'ready-at': async () => ({ readyAt }) })
      break
    }
    case 'under-pressure': {
      app = Fastify({ logger: false })
      const underPressure = (await import('@fastify/under-pressure')).default
      await app.register(underPressure, { exposeStatusRoute: '/status', healthCheck: async () => { probeCalls++; return true }, healthCheckInterval: 2000 })
      app.get('/static', async () => ({ hello: 'world' }))
      control(app)
      break
    }
    case 'terminus': {
      // terminus runs on a plain node http server, its documented home; its check runs on every request.
      const { createTerminus } = await import('@godaddy/terminus')
      const server = createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(req.url === '/__bench/probe-calls' ? JSON.stringify({ probeCalls }) : '{"hello":"world"}') })
      createTerminus(server, { healthChecks: { '/healthcheck': async () => { probeCalls++ } } })
      server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })))
      return
    }
    case 'lightship': {
      const { createLightship } = await import('lightship')
      const lightship = await createLightship({ port: port || 0, detectKubernetes: false, shutdownHandlerTimeout: 1000 })
      lightship.signalReady()
      const address = lightship.server.address()
      console.log(JSON.stringify({ port: address.port }))
      return
    }
    default:
      throw new Error(`unknown BENCH_VARIANT ${variant}`)
  }
  await app.listen({ port, host: '127.0.0.1' })
  console.log(JSON.stringify({ port: app.server.address().port }))
  process.once('SIGTERM', () => { app.close().then(() => process.exit(0)) })
}

await main()
