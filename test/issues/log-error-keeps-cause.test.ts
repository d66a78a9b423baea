import t from 'tap'
import Fastify from 'fastify'
import readiness from '../../index.js'
import { logError } from '../../lib/common/log-error.js'
import { captureLogger } from '../helpers/logs.js'
import { listen, until } from '../helpers/net.js'

// Issue 27: the error copy made for the log dropped `cause`, so a driver error
// wrapped by the app ("pool init failed", cause ECONNREFUSED) reached the log
// without its reason. The cause is kept, redacted like the rest.

const DRIVER = 'connect ECONNREFUSED 127.0.0.1:5432 postgres://app:s3cret@db.internal/app'

t.test('a failed phase logs the wrapped driver error\'s reason, redacted', async (t) => {
  const { lines, stream } = captureLogger()
  const app = Fastify({ logger: { stream } })
  t.teardown(() => app.close())
  await app.register(readiness, {
    shutdown: false,
    metrics: false,
    websocket: false,
    startup: { failedLivenessGraceMs: false },
    phases: { db: async () => { throw new Error('pool init failed', { cause: new Error(DRIVER) }) } }
  })
  await listen(app)
  await until(() => lines.some((l) => l.msg === 'startup phase failed'))
  const line = lines.find((l) => l.msg === 'startup phase failed')
  t.match(line?.err?.message, /pool init failed.*ECONNREFUSED 127\.0\.0\.1:5432/, 'pino prints the cause\'s message after the outer one')
  t.match(line?.err?.stack, /caused by: Error: connect ECONNREFUSED/, 'and its stack as "caused by"')
  t.notMatch(JSON.stringify(lines), /s3cret/, 'the cause is redacted like the rest')
})

t.test('a failed probe run logs the cause too', async (t) => {
  const { lines, stream } = captureLogger()
  const app = Fastify({ logger: { stream, level: 'debug' } })
  t.teardown(() => app.close())
  await app.register(readiness, { shutdown: false, metrics: false, websocket: false })
  app.readiness.addProbe('redis', async () => { throw new Error('ping failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6380'), { code: 'ECONNREFUSED' }) }) })
  await listen(app)
  await until(() => lines.some((l) => l.msg === 'readiness probe check failed'))
  const line = lines.find((l) => l.msg === 'readiness probe check failed')
  t.match(line?.err?.message, /ping failed: connect ECONNREFUSED 127\.0\.0\.1:6380/)
})

t.test('the chain is bounded and cycles end it', async (t) => {
  let deep: Error = new Error('level 0')
  for (let i = 1; i <= 50; i++) deep = new Error(`level ${i}`, { cause: deep })
  let depth = 0
  for (let e: unknown = logError(deep); e instanceof Error; e = e.cause) depth++
  t.ok(depth > 1 && depth <= 6, `a 51-deep chain is copied ${depth} deep`)

  const a = new Error('a')
  const b = new Error('b', { cause: a })
  Object.defineProperty(a, 'cause', { value: b })
  const copied = logError(a)
  t.equal((copied.cause as Error).message, 'b')
  t.equal((copied.cause as Error).cause, undefined, 'the cycle back to a ends the chain')

  const hostile = new Error('outer')
  Object.defineProperty(hostile, 'cause', { get () { throw new Error('boom') } })
  t.equal(logError(hostile).cause, undefined, 'a throwing cause getter is skipped')
  t.equal((logError(new Error('x', { cause: 'password=s3cret' })).cause as Error).message.includes('s3cret'), false, 'a string cause is redacted')
  t.equal(Object.keys(logError(b)).includes('cause'), false, 'cause is not enumerable, as on a native Error')
})
