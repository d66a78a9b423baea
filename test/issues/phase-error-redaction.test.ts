import t from 'tap'
import { captureLogger } from '../helpers/logs.js'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness from '../../index.js'
import { getJson, listen, until } from '../helpers/net.js'

t.test('a failed phase never shows its secret: not on /health/ready, /health/startup nor in the log', async (t) => {
  const { lines, stream } = captureLogger()
  const app = Fastify({ logger: { level: 'debug', stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(readiness, {
    phases: { database: () => { throw new Error('connect failed postgres://app:s3cret@db.internal:5432/chat password=s3cret\n    at secret-frame password=s3cret') } },
    health: { details: 'always' },
    startup: { failedLivenessGraceMs: false }
  })
  const { http } = await listen(app)
  await until(() => app.readiness.startupState === 'failed')
  for (const path of ['/health/ready', '/health/startup']) {
    for (const accept of ['application/json', 'application/health+json']) {
      const res = await fetch(`${http}${path}`, { headers: { accept } })
      const text = await res.text()
      t.equal(res.status, 503, `${path} ${accept} is 503`)
      t.notMatch(text, /s3cret/, `${path} ${accept} shows no secret`)
      t.match(text, /database/, `${path} ${accept} still names the phase`)
    }
  }
  t.notMatch(JSON.stringify(app.readiness.status()), /s3cret/, 'status() shows no secret')
  const logged = JSON.stringify(lines)
  t.notMatch(logged, /s3cret/, 'no log line shows the secret')
  const failed = lines.find((l) => l.msg === 'startup phase failed')
  t.ok(failed, 'the failure is logged')
  t.equal(failed?.err?.type, 'PhaseError', 'as pino expects: err.type')
  t.match(failed?.err?.message, /postgres:\/\/\*\*\*@db\.internal/, 'err.message, redacted')
  t.match(failed?.err?.stack, /^PhaseError: /, 'err.stack starts with the redacted message')
  t.match(failed?.err?.stack, /\n {4}at /, 'and keeps the frames')
})

t.test('status().startup.error is redacted', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { phases: { cache: () => { throw new Error('redis://default:hunter2@cache:6379 refused') } }, startup: { failedLivenessGraceMs: false } })
  await app.ready()
  await until(() => app.readiness.startupState === 'failed')
  const res = await getJson(`${(await listen(app)).http}/health/ready`)
  t.equal(res.status, 503)
  t.match(app.readiness.status().startup.error, { phase: 'cache', message: /redis:\/\/\*\*\*@cache/ })
  t.notMatch(app.readiness.status().startup.error?.message, /hunter2/)
})
