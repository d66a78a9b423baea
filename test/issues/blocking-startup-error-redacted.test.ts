import t from 'tap'
import Fastify from 'fastify'
import readiness, { PhaseError } from '../../index.js'
import { MAX_LENGTH } from '../../lib/redact/index.js'
import { captureLogger } from '../helpers/logs.js'
import { listen, until } from '../helpers/net.js'

// Audit: in blocking mode listen() rejected with the raw phase error and its
// raw cause, so the usual `app.log.error(err)` wrote the password to the log
// (pino prints the cause's message and stack too). And a phase's message was
// stored whole: a 10 MB thrown message stayed 10 MB.

const SECRET = 'connect ECONNREFUSED postgres://app:s3cret@db.internal/app password=s3cret'

t.test('the error a blocking listen() rejects with is redacted, message, stack and cause', async (t) => {
  const { lines, stream } = captureLogger()
  const app = Fastify({ logger: { stream } })
  t.teardown(() => app.close())
  await app.register(readiness, {
    shutdown: false,
    metrics: false,
    websocket: false,
    startup: { mode: 'blocking' },
    phases: { db: { run: async () => { throw new Error(SECRET) }, timeoutMs: 2000 } }
  })
  const err = await listen(app).then(() => null, (e: unknown) => e)
  t.type(err, PhaseError)
  const phaseError = err as PhaseError
  t.match(phaseError.message, /^startup phase "db" failed: connect ECONNREFUSED postgres:\/\/\*\*\*@db\.internal/, 'the message says what failed')
  t.notMatch(phaseError.message, /s3cret/, 'message')
  t.notMatch(String(phaseError.stack), /s3cret/, 'stack')
  t.notMatch(JSON.stringify({ m: (phaseError.cause as Error | undefined)?.message, s: (phaseError.cause as Error | undefined)?.stack }), /s3cret/, 'cause')
  app.log.error(err)
  t.notMatch(JSON.stringify(lines), /s3cret/, 'no log line, the app\'s own app.log.error(err) included, holds the secret')
  t.ok(lines.some((l) => l.err?.type === 'PhaseError'), 'the app\'s line is there')
})

t.test('a 10 MB phase error is stored bounded, everywhere it goes', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, { shutdown: false, metrics: false, websocket: false, startup: { failedLivenessGraceMs: false }, phases: { p: async () => { throw new Error(`${'y '.repeat(5 << 20)}`) } } })
  let emitted: PhaseError | null = null
  app.readiness.on('phaseFailed', (_name, error) => { emitted = error })
  await listen(app)
  await until(() => app.readiness.startupState === 'failed')
  const waited = await app.readiness.waitForPhase('p').then(() => null, (e: Error) => e)
  for (const [where, message] of [
    ['phaseFailed', (emitted as PhaseError | null)?.message],
    ['waitForPhase', waited?.message],
    ['status().startup.error', app.readiness.status().startup.error?.message],
    ['status().phases.p.error', app.readiness.status().phases.p?.error?.message]
  ] as const) t.ok((message?.length ?? Infinity) <= MAX_LENGTH + 40, `${where}: ${message?.length} characters`)
})
