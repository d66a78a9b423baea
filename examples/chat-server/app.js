import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness, { bearerToken, postgresProbe, redisProbe } from 'fastify-readiness'
import { SimulatedStore } from './simulated-store.js'

const require = createRequire(import.meta.url)
const CLIENT_JS = readFileSync(require.resolve('fastify-readiness/client/browser'), 'utf8')
const PAGE = readFileSync(new URL('./page.html', import.meta.url), 'utf8')

/**
 * A small chat server. `gated: false` builds the naive variant of the incident:
 * it listens at once, accepts every upgrade, and its handler closes with 1011
 * while its store is still warming up.
 */
// Details (phases, probes, gate counters) for this machine only, as an operator on the box would see them.
// With HEALTH_TOKEN set (any deployment), only callers presenting it; on a developer's machine with no
// token, loopback callers. An IP check is no policy behind a proxy (every request comes from the proxy),
// which is why deployments set the token.
const localOnly = process.env.HEALTH_TOKEN
  ? bearerToken(process.env.HEALTH_TOKEN)
  : (request) => request.ip === '127.0.0.1' || request.ip === '::1' || request.ip === '::ffff:127.0.0.1'

export async function buildChatServer ({ gated = true, warmupMs = 3000, mode = 'hold', logger = true, redisUrl, databaseUrl, onRestart } = {}) {
  const startedAt = Date.now()
  const store = new SimulatedStore(warmupMs)
  const rooms = new Map()
  const app = Fastify({ logger })
  // The demo measures "before ready" against this instant, the store's own, not the timer's: logged at
  // once, so it is known before the first client gets in.
  app.log.info({ readyAt: store.readyAt, warmupMs }, 'store warming up')
  setTimeout(() => app.log.info({ readyAt: store.readyAt }, 'store ready'), warmupMs).unref()
  if (gated) {
    const probes = { store: { check: (signal) => store.ping(signal), timeoutMs: 500 } }
    if (redisUrl) probes.redis = redisProbe({ url: redisUrl })
    if (databaseUrl) probes.postgres = postgresProbe({ connectionString: databaseUrl })
    await app.register(readiness, {
      probes,
      phases: {
        // The store says how long it warms up: with that hint, Retry-After tells clients the truth.
        dependencies: { probes: Object.keys(probes), expectedMs: warmupMs, timeoutMs: Math.max(30_000, 2 * warmupMs) },
        websocket: { after: ['dependencies'], run: async () => { rooms.clear() } }
      },
      websocket: { mode },
      health: { details: localOnly },
      statusPage: { details: localOnly }
    })
  }
  // After the suite: on close, its drain (1012) runs before @fastify/websocket's own preClose.
  await app.register(websocket)

  // The same handler twice when gated: /chat behind the gate, /naive without it (readiness: false), so the
  // page can show both side by side on one cold start. Without the suite, /chat is the naive one.
  const chat = (socket, request) => {
    const { room } = request.params
    if (!store.isUp()) {
      // What the incident saw: the handshake succeeded, the handler could not serve.
      socket.close(1011, 'store not ready')
      return
    }
    const members = rooms.get(room) ?? new Set()
    rooms.set(room, members)
    members.add(socket)
    socket.on('close', () => members.delete(socket))
    socket.on('message', (data) => {
      const text = data.toString()
      let seq
      try {
        seq = store.append(room, text)
      } catch {
        socket.close(1011, 'store failed')
        return
      }
      // The broadcast is also the sender's acknowledgement: it carries the text and its sequence number.
      const frame = JSON.stringify({ room, seq, text, pid: process.pid })
      for (const member of members) member.send(frame)
    })
  }
  app.get('/chat/:room', { websocket: true }, chat)
  if (gated) app.get('/naive/:room', { websocket: true, readiness: false }, chat)

  // What the page needs to explain itself: the variant, and the store's warm-up on the server's clock.
  app.get('/demo/info', { readiness: false }, async () => ({
    gated,
    mode: gated ? mode : null,
    warmupMs,
    startedAt,
    readyAt: store.readyAt,
    now: Date.now(),
    // Separate rooms: each column sees only its own messages.
    routes: gated ? { gated: '/chat/lobby', naive: '/naive/naive-lobby' } : { naive: '/chat/lobby' },
    restart: onRestart !== undefined,
    links: gated ? { statusPage: '/readiness/status', health: ['/health/live', '/health/startup', '/health/ready', '/health/websocket'] } : { statusPage: null, health: [] }
  }))

  // Loopback only: a restart is for the person at this machine, not for anyone who can reach the port.
  if (onRestart) {
    app.post('/demo/restart', { readiness: false }, async (request, reply) => {
      if (!['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(request.ip)) return reply.code(403).send({ error: 'loopback only' })
      setImmediate(onRestart)
      return reply.code(202).send({ restarting: true })
    })
  }
  app.get('/', async (_request, reply) => reply.type('text/html').send(PAGE))
  app.get('/client.js', async (_request, reply) => reply.type('text/javascript').send(CLIENT_JS))
  return app
}
