import t, { type Test } from 'tap'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import autoload from '@fastify/autoload'
import type { WebSocket } from 'ws'
import readiness, { readinessHealth, readinessMetrics, readinessPressure, readinessShutdown, readinessStatusPage, readinessWebSocketGate, type FastifyReadinessOptions, type GateMode } from '../index.js'
import { connect, listen, sleep } from './helpers/net.js'

/**
 * Issue 13: the layouts people really give their Fastify apps. In each, a
 * dependency comes up after DEPENDENCY_MS and clients connect from the first
 * millisecond. Whatever the layout, no handler may run while the dependency is
 * down, and every client must get in once it is up; a layout the suite cannot
 * protect must fail at start, naming the fix.
 */
const CLIENTS = 12
const DEPENDENCY_MS = 300
const MODES: GateMode[] = ['hold', 'reject', 'accept-then-close']

interface Harness {
  options: (mode: GateMode) => FastifyReadinessOptions
  handler: (socket: WebSocket) => void
  counts: { early: number, runs: number }
}

function harness (dependencyMs = DEPENDENCY_MS): Harness {
  const startedAt = Date.now()
  const counts = { early: 0, runs: 0 }
  const up = (): boolean => Date.now() - startedAt >= dependencyMs
  return {
    counts,
    options: (mode) => ({
      probes: { db: { check: async () => { if (!up()) throw new Error('ECONNREFUSED') }, startIntervalMs: 10 } },
      websocket: { mode, holdTimeoutMs: 5000 }
    }),
    handler: (socket) => {
      counts.runs++
      if (!up()) { counts.early++; socket.close(1011, 'dependency not ready'); return }
      socket.on('message', () => socket.send('hello'))
    }
  }
}

/** One client: retries on 503 and on 1013 until its handler says hello, or the deadline. */
async function client (url: string, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    const outcome = await connect(url, { handshakeTimeout: 6000 })
    if (outcome.kind !== 'open') { await sleep(40); continue }
    const said = await new Promise<string>((resolve) => {
      outcome.ws.once('message', (data) => resolve(data.toString()))
      outcome.ws.once('close', (code) => resolve(`closed ${code}`))
      outcome.ws.send('ping')
    })
    outcome.ws.close()
    if (said === 'hello') return true
    if (said === 'closed 1011') return false
    await sleep(40)
  }
  return false
}

async function storm (t: Test, app: FastifyInstance, h: Harness, path = '/chat'): Promise<void> {
  const { ws } = await listen(app)
  const deadline = Date.now() + 8000
  const results = await Promise.all(Array.from({ length: CLIENTS }, () => client(`${ws}${path}`, deadline)))
  t.equal(h.counts.early, 0, 'no handler ran before the dependency was up')
  t.equal(results.filter(Boolean).length, CLIENTS, 'every client got in once it was up')
}

function app (t: Test): FastifyInstance {
  const instance = Fastify({ logger: false })
  t.teardown(() => instance.close())
  return instance
}

const layouts: Array<{ name: string, build: (t: Test, h: Harness, mode: GateMode) => Promise<FastifyInstance>, path?: string }> = [
  {
    name: 'the README\'s way: suite, then @fastify/websocket, then routes',
    build: async (t, h, mode) => {
      const a = app(t)
      await a.register(readiness, h.options(mode))
      await a.register(websocket)
      a.get('/chat', { websocket: true }, h.handler)
      return a
    }
  },
  {
    name: '@fastify/websocket first, then the suite',
    build: async (t, h, mode) => {
      const a = app(t)
      await a.register(websocket)
      await a.register(readiness, h.options(mode))
      a.get('/chat', { websocket: true }, h.handler)
      return a
    }
  },
  {
    name: 'register(readiness) not awaited, routes right after',
    build: async (t, h, mode) => {
      const a = app(t)
      await a.register(websocket)
      void a.register(readiness, h.options(mode))
      a.get('/chat', { websocket: true }, h.handler)
      return a
    }
  },
  {
    name: 'the suite in its own plugin without fastify-plugin, WebSocket routes in a sibling plugin',
    build: async (t, h, mode) => {
      const a = app(t)
      await a.register(websocket)
      const health: FastifyPluginAsync = async (f) => { await f.register(readiness, h.options(mode)) }
      const routes: FastifyPluginAsync = async (f) => { f.get('/chat', { websocket: true }, h.handler) }
      await a.register(health)
      await a.register(routes)
      return a
    }
  },
  {
    name: '@fastify/websocket and the suite each in their own fastify-plugin file',
    build: async (t, h, mode) => {
      const a = app(t)
      await a.register(fp(async (f) => { await f.register(websocket) }))
      await a.register(fp(async (f) => { await f.register(readiness, h.options(mode)) }))
      await a.register(async (f) => { f.get('/chat', { websocket: true }, h.handler) })
      return a
    }
  },
  {
    name: '@fastify/websocket and its routes in a plugin without fastify-plugin, registered after the suite',
    build: async (t, h, mode) => {
      const a = app(t)
      await a.register(readiness, h.options(mode))
      await a.register(async (f) => {
        await f.register(websocket)
        f.get('/chat', { websocket: true }, h.handler)
      })
      return a
    }
  },
  {
    name: 'a WebSocket route declared before the suite',
    build: async (t, h, mode) => {
      const a = app(t)
      await a.register(websocket)
      a.get('/chat', { websocket: true }, h.handler)
      await a.register(readiness, h.options(mode))
      return a
    }
  },
  {
    // The backstop once let an unadmitted upgrade through when findRoute() without the request's
    // constraints found no route: every constrained route declared before the suite failed open.
    name: 'a WebSocket route with a host constraint declared before the suite',
    build: async (t, h, mode) => {
      const a = app(t)
      await a.register(websocket)
      a.get('/chat', { websocket: true, constraints: { host: /^127\.0\.0\.1(:\d+)?$/ } }, h.handler)
      await a.register(readiness, h.options(mode))
      return a
    }
  },
  {
    // @fastify/websocket takes any truthy flag; the gate took only `true` and left such a route ungated.
    name: 'a WebSocket route flagged with a truthy non-boolean (websocket: 1)',
    build: async (t, h, mode) => {
      const a = app(t)
      await a.register(readiness, h.options(mode))
      await a.register(websocket)
      a.get('/chat', { websocket: 1 as unknown as true }, h.handler)
      return a
    }
  },
  {
    name: 'a parametric WebSocket route declared before the suite',
    build: async (t, h, mode) => {
      const a = app(t)
      await a.register(websocket)
      a.get('/chat/:room', { websocket: true }, h.handler)
      await a.register(readiness, h.options(mode))
      return a
    },
    path: '/chat/lobby'
  },
  {
    name: 'WebSocket routes in a plugin registered before the suite',
    build: async (t, h, mode) => {
      const a = app(t)
      await a.register(websocket)
      await a.register(async (f) => { f.get('/chat', { websocket: true }, h.handler) })
      await a.register(readiness, h.options(mode))
      return a
    }
  },
  {
    name: '@fastify/autoload: plugins/ and routes/ folders, as fastify-cli generates them',
    build: async (t, h, mode) => {
      const a = app(t)
      const dir = fileURLToPath(new URL('./fixtures/autoload-app/', import.meta.url))
      await a.register(autoload, { dir: `${dir}plugins`, options: { readiness: h.options(mode) } })
      await a.register(autoload, { dir: `${dir}routes`, options: { onHandler: h.handler } })
      return a
    }
  }
]

for (const layout of layouts) {
  t.test(layout.name, async (t) => {
    for (const mode of MODES) {
      await t.test(`${mode} mode`, async (t) => {
        const h = harness()
        const built = await layout.build(t, h, mode)
        await storm(t, built, h, layout.path)
      })
    }
  })
}

t.test('layouts the suite cannot protect fail at start, naming the fix', async (t) => {
  await t.test('@fastify/websocket and its routes encapsulated in a plugin registered before the suite', async (t) => {
    const h = harness()
    const a = app(t)
    await a.register(async (f) => {
      await f.register(websocket)
      f.get('/chat', { websocket: true }, h.handler)
    })
    await a.register(readiness, h.options('reject'))
    await t.rejects(async () => { await a.ready() }, /cannot see the @fastify\/websocket.*fastify-plugin/s)
  })

  await t.test('the suite registered twice (umbrella twice, or umbrella and a part)', async (t) => {
    const a = app(t)
    await a.register(readiness)
    await t.rejects(async () => { await a.register(readiness); await a.ready() }, /registers the (metrics|probes plugin) a second time/)
  })

  // Each suite in a sibling plugin had a state of its own, so nothing saw the second one: it failed on
  // FST_ERR_DUPLICATED_ROUTE '/health/live', or (health: false) silently gated the other's routes.
  await t.test('the suite in two sibling plugins', async (t) => {
    for (const health of [undefined, false] as const) {
      const a = app(t)
      void a.register(async (f) => { await f.register(readiness, { health, shutdown: { signals: false } }) })
      void a.register(async (f) => { await f.register(readiness, { health, shutdown: { signals: false } }) })
      await t.rejects(async () => { await a.ready() }, { code: 'FST_READINESS_REGISTERED_TWICE', message: /this app registers the (metrics|probes plugin) a second time/ }, `health: ${String(health)}`)
    }
  })

  await t.test('the umbrella and each part registered beside it', async (t) => {
    const parts: Array<[string, FastifyPluginAsync<any>, Record<string, unknown>, RegExp]> = [
      ['health', readinessHealth, {}, /the health routes/],
      ['gate', readinessWebSocketGate, {}, /the WebSocket gate/],
      ['shutdown', readinessShutdown, { signals: false }, /the shutdown sequence/],
      ['metrics', readinessMetrics, {}, /the metrics/],
      ['status page', readinessStatusPage, {}, /the status page/],
      ['pressure', readinessPressure, { maxEventLoopDelay: 1000 }, /the pressure probe/]
    ]
    for (const [name, part, options, message] of parts) {
      const a = app(t)
      await a.register(readiness, { statusPage: {}, pressure: { maxEventLoopDelay: 1000 }, shutdown: { signals: false } })
      await t.rejects(async () => { await a.register(part, options); await a.ready() }, { code: 'FST_READINESS_REGISTERED_TWICE', message }, name)
    }
  })
})

t.test('an ungated route is named in the log, once, with the fix', async (t) => {
  const lines: string[] = []
  const a = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(() => a.close())
  // The dependency stays down: on a loaded machine a 300 ms one was up before the third connect.
  const h = harness(Infinity)
  await a.register(websocket)
  a.get('/early', { websocket: true }, h.handler)
  await a.register(readiness, h.options('reject'))
  const { ws } = await listen(a)
  for (let i = 0; i < 3; i++) t.match(await connect(`${ws}/early`), { kind: 'refused', status: 503 })
  const named = lines.map((l) => JSON.parse(l)).filter((l) => /\/early is not gated/.test(l.msg))
  t.equal(named.length, 1, 'logged once, not per upgrade')
  t.equal(named[0]?.level, 50, 'as an error while the app is not ready')
  t.match(named[0]?.msg, /register fastify-readiness at the root, awaited, before your routes/)
  t.equal(h.counts.runs, 0)
})

t.test('the suite inside a plugin without fastify-plugin says at start that app.readiness is not at the root', async (t) => {
  const lines: Array<{ level: number, msg: string, plugin?: string }> = []
  const a = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } })
  t.teardown(() => a.close())
  await a.register(async function health (f) { await f.register(readiness, { probes: { db: async () => {} }, shutdown: { signals: false } }) })
  await a.ready()
  t.equal(a.readiness, undefined, 'not at the root')
  const warned = lines.filter((l) => /registered inside the encapsulated plugin "health"/.test(l.msg))
  t.equal(warned.length, 1, 'one warning naming the plugin')
  t.match(warned[0]?.msg, /Wrap that plugin with fastify-plugin/)

  lines.length = 0
  const b = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } })
  t.teardown(() => b.close())
  await b.register(fp(async (f) => { await f.register(readiness, { probes: { db: async () => {} }, shutdown: { signals: false } }) }))
  await b.ready()
  t.type(b.readiness, 'object')
  t.same(lines.filter((l) => /encapsulated/.test(l.msg)), [], 'no warning at the root')
})

// Upgrades on plain HTTP routes declared after the suite with readiness: false, or gated as HTTP routes,
// were taken for WebSocket routes the gate never saw, and any client could make the suite log an error.
t.test('upgrades on plain routes the gate saw are not reported as ungated WebSocket routes', async (t) => {
  const lines: Array<{ level: number, msg: string }> = []
  const a = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } })
  t.teardown(() => a.close())
  const h = harness()
  await a.register(readiness, h.options('reject'))
  await a.register(websocket)
  a.get('/metrics-scrape', { readiness: false }, async () => 'ok')
  a.get('/api', { readiness: { gate: true, requires: [] } }, async () => 'ok')
  const { ws } = await listen(a)
  for (const path of ['/metrics-scrape', '/api']) await connect(`${ws}${path}`)
  t.same(lines.filter((l) => /is not gated/.test(l.msg)), [], 'no false report')
})

// @fastify/restartable builds the next app on the server of the one it closed.
t.test('a closed app gives its server back: a new app on the same server registers the suite', async (t) => {
  const { createServer } = await import('node:http')
  const server = createServer()
  const factory = (handler: import('node:http').RequestListener): import('node:http').Server => {
    server.removeAllListeners('request')
    server.on('request', handler)
    return server
  }
  const first = Fastify({ serverFactory: factory })
  await first.register(readiness, { shutdown: { signals: false } })
  await first.ready()
  await first.close()
  const second = Fastify({ serverFactory: factory })
  t.teardown(() => second.close())
  await second.register(readiness, { shutdown: { signals: false } })
  await second.ready()
  t.type(second.readiness, 'object')
})

t.test('a second @fastify/websocket the gate cannot see is named in a warning at start', async (t) => {
  const lines: Array<{ level: number, msg: string }> = []
  const a = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } })
  t.teardown(() => a.close())
  const h = harness()
  await a.register(async (f) => {
    await f.register(websocket)
    f.get('/early', { websocket: true }, h.handler)
  })
  await a.register(websocket)
  await a.register(readiness, h.options('reject'))
  a.get('/chat', { websocket: true }, h.handler)
  await a.ready()
  const warned = lines.filter((l) => /'upgrade' listeners but the gate guards 1 @fastify\/websocket/.test(l.msg))
  t.equal(warned.length, 1)
  t.equal(warned[0]?.level, 40)
})
