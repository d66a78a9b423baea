import t from 'tap'
import Fastify from 'fastify'
import readiness, { postgresProbe, redisProbe, httpProbe, tcpProbe } from '../index.js'
import { sleep } from './helpers/net.js'
import { httpServer, silentServer } from './helpers/servers.js'

// Alone in its file so that nothing else's sockets and timers blur the count.
t.test('built-in probes leave no socket or timer behind after app.close(), healthy or hung', async (t) => {
  const url = await httpServer(t, (_req, res) => { res.end('ok') })
  const silent = await silentServer(t)
  await sleep(50)
  const before = count()
  const app = Fastify()
  await app.register(readiness, {
    probes: {
      postgres: { check: postgresProbe({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' }), intervalMs: 20 },
      redis: { check: redisProbe({ url: 'redis://127.0.0.1:6379' }), intervalMs: 20 },
      http: { check: httpProbe({ url }), intervalMs: 20 },
      tcp: { check: tcpProbe({ port: Number(new URL(url).port) }), intervalMs: 20 },
      hungPostgres: { check: postgresProbe({ connectionString: `postgres://u@127.0.0.1:${silent.port}/db` }), timeoutMs: 100, critical: false },
      hungRedis: { check: redisProbe({ url: `redis://127.0.0.1:${silent.port}` }), timeoutMs: 100, critical: false },
      hungHttp: { check: httpProbe({ url: `http://127.0.0.1:${silent.port}/` }), timeoutMs: 100, critical: false }
    }
  })
  await app.ready()
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  await sleep(300) // let the hung probes time out a few times
  t.ok(count().TCPSocketWrap ?? (before.TCPSocketWrap ?? 0) < 0, 'probes held connections while running')
  await app.close()
  await sleep(100)
  t.same(count(), before, 'no sockets or timers remain')
  t.equal(silent.connections(), 0, 'no connection to the hung server remains open')
})

function count (): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) if (/TCP|Timeout/.test(r)) out[r] = (out[r] ?? 0) + 1
  return out
}
