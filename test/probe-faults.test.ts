import t from 'tap'
import readiness, { postgresProbe, redisProbe, httpProbe } from '../index.js'
import Fastify from 'fastify'
import { buildApp } from './helpers/app.js'
import { closed, connect, listen, nextMessage, sleep } from './helpers/net.js'
import { httpServer, postgresServer, redisServer, silentServer } from './helpers/servers.js'

const INTERVAL = 200
const TIMEOUT = 300
// Readiness must follow a dependency within one probe interval plus one probe timeout.
const BOUND = INTERVAL + TIMEOUT + 250

function timeUntil (app: { readiness: { isReady: () => boolean, once: (e: 'ready' | 'notReady', l: () => void) => unknown } }, want: boolean): Promise<number> {
  const started = Date.now()
  if (app.readiness.isReady() === want) return Promise.resolve(0)
  return new Promise((resolve) => app.readiness.once(want ? 'ready' : 'notReady', () => resolve(Date.now() - started)))
}

t.test('Redis that starts late, is killed after ready, and restarts: readiness and the gate follow', async (t) => {
  const redis = await redisServer(t)
  const app = await buildApp(t, {
    probes: { redis: { check: redisProbe({ url: redis.url, timeoutMs: TIMEOUT }), intervalMs: INTERVAL, timeoutMs: TIMEOUT } },
    websocket: { mode: 'reject' }
  })
  app.get('/chat', { websocket: true, readiness: { requires: ['redis'] } }, (socket) => {
    socket.on('message', (d) => socket.send(d.toString()))
  })
  const { http, ws } = await listen(app)
  t.equal((await fetch(`${http}/health/ready`)).status, 503, 'not ready while Redis is not there')
  t.match(await connect(`${ws}/chat`), { kind: 'refused', status: 503 }, 'the chat route refuses upgrades')

  await sleep(1000)
  const comingUp = timeUntil(app, true)
  await redis.start()
  const upAfter = await comingUp
  t.ok(upAfter <= BOUND, `ready ${upAfter} ms after Redis came up (bound ${BOUND} ms)`)
  t.equal((await fetch(`${http}/health/ready`)).status, 200)
  const chat = await connect(`${ws}/chat`)
  if (chat.kind !== 'open') { t.fail('chat should open'); return }

  const goingDown = timeUntil(app, false)
  await redis.kill('SIGKILL')
  const downAfter = await goingDown
  t.ok(downAfter <= BOUND, `not ready ${downAfter} ms after Redis was killed (bound ${BOUND} ms)`)
  t.equal((await fetch(`${http}/health/ready`)).status, 503)
  t.match(await connect(`${ws}/chat`), { kind: 'refused', status: 503 }, 'new upgrades are refused while Redis is gone')
  const echo = nextMessage(chat.ws)
  chat.ws.send('still open')
  t.equal(await echo, 'still open', 'the open socket was not dropped')

  const backUp = timeUntil(app, true)
  await redis.start()
  const backAfter = await backUp
  t.ok(backAfter <= BOUND, `ready again ${backAfter} ms after the restart (bound ${BOUND} ms)`)
  t.equal((await connect(`${ws}/chat`)).kind, 'open')
  const done = closed(chat.ws)
  chat.ws.close()
  await done
})

t.test('a PostgreSQL cluster stopped and started: readiness follows', async (t) => {
  const pg = await postgresServer(t)
  await pg.start()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, {
    probes: { postgres: { check: postgresProbe({ connectionString: pg.url, statementTimeoutMs: TIMEOUT }), intervalMs: INTERVAL, timeoutMs: TIMEOUT } }
  })
  const { http } = await listen(app)
  await timeUntil(app, true)
  t.equal((await fetch(`${http}/health/ready`)).status, 200)

  const goingDown = timeUntil(app, false)
  await pg.stop('immediate')
  const downAfter = await goingDown
  t.ok(downAfter <= BOUND, `not ready ${downAfter} ms after PostgreSQL stopped (bound ${BOUND} ms)`)
  const stored = JSON.stringify(app.readiness.status())
  t.notMatch(stored, /not-a-secret/, 'the password in the connection string never reaches status')

  const backUp = timeUntil(app, true)
  await pg.start()
  const backAfter = await backUp
  t.ok(backAfter <= BOUND, `ready again ${backAfter} ms after PostgreSQL started (bound ${BOUND} ms)`)
})

t.test('a dependency that accepts and never answers: each probe times out on time and leaks no socket', async (t) => {
  const silent = await silentServer(t)
  const target = `127.0.0.1:${silent.port}`
  const app = Fastify()
  await app.register(readiness, {
    probes: {
      postgres: { check: postgresProbe({ connectionString: `postgres://u:pw@${target}/db`, statementTimeoutMs: 200 }), timeoutMs: 200 },
      redis: { check: redisProbe({ url: `redis://${target}`, timeoutMs: 200 }), timeoutMs: 200 },
      http: { check: httpProbe({ url: `http://${target}/health` }), timeoutMs: 200 }
    }
  })
  await app.ready()
  await sleep(600)
  for (const name of ['postgres', 'redis', 'http']) {
    t.equal(await app.readiness.checkProbe(name), 'fail', `${name} failed`)
    const probe = app.readiness.status().probes[name]
    t.match(probe?.lastError?.message, /timed out after 200 ms/, `${name}: the hung server made it time out`)
    t.ok((probe?.runs ?? 0) >= 2, `${name} kept probing (${probe?.runs} runs)`)
  }
  // Every run that timed out ran for its full timeout, never longer.
  const latencies = Object.values(app.readiness.status().probes).map((p) => p.latencyMs as number)
  t.ok(latencies.every((ms) => ms < 1000), `each run ended at its timeout (${latencies.join(', ')} ms)`)
  await app.close()
  for (let i = 0; i < 100 && silent.connections() > 0; i++) await sleep(20)
  t.equal(silent.connections(), 0, 'every connection to the hung server was closed')
})

t.test('an HTTP dependency that answers 500, then 200', async (t) => {
  let status = 500
  const url = await httpServer(t, (_req, res) => { res.statusCode = status; res.end('{}') })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: { api: { check: httpProbe({ url }), intervalMs: INTERVAL, timeoutMs: TIMEOUT } } })
  const { http } = await listen(app)
  await sleep(100)
  t.equal((await fetch(`${http}/health/ready`)).status, 503)
  const comingUp = timeUntil(app, true)
  status = 200
  const upAfter = await comingUp
  t.ok(upAfter <= BOUND, `ready ${upAfter} ms after the dependency turned healthy`)
})
