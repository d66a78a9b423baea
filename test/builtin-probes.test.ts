import t, { type Test } from 'tap'
import Fastify from 'fastify'
import pg from 'pg'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import readiness, { postgresProbe, redisProbe, httpProbe, tcpProbe, ReadinessOptionError } from '../index.js'
import { loadDriver } from '../lib/probes/builtin/driver.js'
import { httpServer, redisServer } from './helpers/servers.js'

const PG_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

async function appWith (t: Test, probes: Record<string, unknown>) {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { probes: probes as never })
  await app.ready()
  return app
}

t.test('postgresProbe({ connectionString }) runs SELECT 1 on one reused connection, closed on app.close()', async (t) => {
  const name = `readiness-probe-${process.pid}`
  const check = postgresProbe({ connectionString: `${PG_URL}?application_name=${name}` })
  const app = await appWith(t, { postgres: { check, intervalMs: 5 } })
  await app.readiness.waitFor(['postgres'], { timeoutMs: 5000 })
  for (let i = 0; i < 20; i++) t.equal(await app.readiness.checkProbe('postgres'), 'pass')
  const observer = new pg.Client({ connectionString: PG_URL })
  await observer.connect()
  t.teardown(() => observer.end())
  const count = async (): Promise<number> => Number((await observer.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [name])).rows[0].n)
  t.equal(await count(), 1, 'twenty checks, one connection')
  await app.close()
  for (let i = 0; i < 50 && await count() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await count(), 0, 'the connection is closed with the app')
})

t.test('postgresProbe({ pool }) and ({ client }) use yours and never end them', async (t) => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2 })
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  t.teardown(async () => { await pool.end(); await client.end() })
  const app = await appWith(t, { viaPool: postgresProbe({ pool }), viaClient: postgresProbe({ client }) })
  await app.readiness.waitFor(['viaPool', 'viaClient'], { timeoutMs: 5000 })
  await app.close()
  t.same((await pool.query('SELECT 2 AS n')).rows, [{ n: 2 }], 'the pool still works')
  t.same((await client.query('SELECT 3 AS n')).rows, [{ n: 3 }], 'the client still works')
})

t.test('redisProbe({ url }) PINGs on one reused connection, closed on app.close()', async (t) => {
  const redis = await redisServer(t)
  await redis.start()
  const observer = new Redis(redis.url)
  t.teardown(() => observer.disconnect())
  const clients = async (): Promise<number> => (await observer.client('LIST') as string).trim().split('\n').length
  t.equal(await clients(), 1, 'only the observer')
  const app = await appWith(t, { redis: { check: redisProbe({ url: redis.url }), intervalMs: 5 } })
  await app.readiness.waitFor(['redis'], { timeoutMs: 5000 })
  for (let i = 0; i < 20; i++) t.equal(await app.readiness.checkProbe('redis'), 'pass')
  t.equal(await clients(), 2, 'twenty checks, one connection')
  await app.close()
  for (let i = 0; i < 50 && await clients() > 1; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await clients(), 1, 'the connection is closed with the app')
})

t.test('redisProbe({ client }) works with ioredis and node-redis clients and never closes them', async (t) => {
  const io = new Redis(REDIS_URL)
  const node = createClient({ url: REDIS_URL })
  await node.connect()
  t.teardown(async () => { io.disconnect(); await node.quit() })
  const app = await appWith(t, { ioredis: redisProbe({ client: io }), nodeRedis: redisProbe({ client: node }) })
  await app.readiness.waitFor(['ioredis', 'nodeRedis'], { timeoutMs: 5000 })
  await app.close()
  t.equal(await io.ping(), 'PONG')
  t.equal(await node.ping(), 'PONG')
})

t.test('httpProbe and tcpProbe against real servers', async (t) => {
  const url = await httpServer(t, (req, res) => { res.statusCode = req.url === '/ok' ? 204 : 500; res.end() })
  const app = await appWith(t, {
    ok: httpProbe({ url: `${url}/ok` }),
    wrong: { check: httpProbe({ url: `${url}/broken` }), critical: false },
    listed: httpProbe({ url: `${url}/broken`, expectStatus: [500, 503] }),
    tcp: tcpProbe({ port: Number(new URL(url).port) })
  })
  await app.readiness.waitFor(['ok', 'listed', 'tcp'], { timeoutMs: 5000 })
  t.equal(await app.readiness.checkProbe('wrong'), 'fail')
  t.match(app.readiness.status().probes.wrong?.lastError?.message, /GET http:\/\/127\.0\.0\.1:\d+\/broken answered 500/)
})

t.test('bad probe options are errors that name the probe factory', async (t) => {
  t.throws(() => postgresProbe({}), /option "postgresProbe" needs exactly one of/)
  t.throws(() => redisProbe({ url: REDIS_URL, client: { ping: async () => 'PONG' } }), /option "redisProbe" needs exactly one of/)
  t.throws(() => redisProbe({ client: {} as never }), /option "redisProbe.client" must have a ping\(\) method/)
  t.throws(() => httpProbe({ url: 'not a url' }), /option "httpProbe.url" must be an absolute URL/)
  t.throws(() => tcpProbe({ port: 70000 }), /option "tcpProbe.port" must be a port number/)
})

t.test('a missing driver is an error at registration naming the package to install', async (t) => {
  const err = t.throws(() => loadDriver('redisProbe', 'ioredis-that-is-not-installed', ', or pass your own client'))
  t.type(err, ReadinessOptionError)
  t.match((err as Error).message, 'option "redisProbe" needs the "ioredis-that-is-not-installed" package: run `npm install ioredis-that-is-not-installed`, or pass your own client')
})
