import t from 'tap'
import { connect } from 'node:http2'
import { fileURLToPath } from 'node:url'
import { messages, startChild } from '../fixtures/shutdown-child.js'

/**
 * Issue 25: on Node 20 an HTTP/2 server's close() waits for its sessions and closes none of them, so one
 * idle client session held Fastify's close, and SIGTERM ended 10 s later in the shutdown timeout and exit 1.
 * The close step now tells every session to go away (GOAWAY, then close once its streams are done).
 */
const APP = fileURLToPath(new URL('../fixtures/http2-app.mjs', import.meta.url))

t.test('SIGTERM with an idle HTTP/2 session open: the session is told to go away and the process exits 0', async (t) => {
  const app = await startChild(t, { SHUTDOWN_OPTS: JSON.stringify({ delayMs: 0, timeoutMs: 10_000 }) }, { script: APP, waitListening: false })
  const port = (await app.waitLog((l) => typeof l.listening === 'number')).listening as number
  const session = connect(`http://127.0.0.1:${port}`)
  session.on('error', () => {})
  // One request, so that the session is established and known to the server, then left idle.
  const status = await new Promise<number>((resolve, reject) => {
    const stream = session.request({ ':path': '/work' })
    stream.on('response', (headers) => { resolve(Number(headers[':status'])) })
    stream.on('error', reject)
    stream.resume()
    stream.end()
  })
  t.equal(status, 200, 'served over HTTP/2')
  const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()))
  const sessionClosed = new Promise<void>((resolve) => session.once('close', () => resolve()))
  app.kill('SIGTERM')
  await goaway
  t.pass('the client was sent GOAWAY')
  const { code } = await app.exited
  t.equal(code, 0, 'exit 0, not the shutdown timeout')
  t.ok(messages(app).includes('shutdown complete'))
  t.notOk(messages(app).some((m) => m.startsWith('shutdown timed out')), 'no timeout logged')
  await sessionClosed
})
