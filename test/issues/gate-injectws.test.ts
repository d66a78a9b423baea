import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness, { type GateMode } from '../../index.js'
import { Switch } from '../helpers/app.js'
import { until } from '../helpers/net.js'

/**
 * Issue 12: @fastify/websocket's injectWS (how users test their apps) has no
 * `request.raw.socket`; the gate took the socket from there and crashed (hold:
 * TypeError -> 500) or never answered (reject, accept-then-close).
 */
async function app (t: Test, mode: GateMode, db: Switch) {
  const a = Fastify()
  t.teardown(() => a.close())
  await a.register(readiness, { probes: { db: { check: db.check, startIntervalMs: 5 } }, websocket: { mode, holdTimeoutMs: 3000 } })
  await a.register(websocket)
  a.get('/ws', { websocket: true }, (socket) => { socket.on('message', (d) => socket.send(`echo ${d.toString()}`)) })
  await a.ready()
  return a
}

t.test('injectWS while never ready: held, then 503 at the hold timeout, the promise settles', async (t) => {
  for (const mode of ['hold', 'reject', 'accept-then-close'] as const) {
    const a = Fastify()
    await a.register(readiness, { probes: { db: async () => { throw new Error('down') } }, websocket: { mode, holdTimeoutMs: 200 } })
    await a.register(websocket)
    a.get('/ws', { websocket: true }, () => { t.fail('the handler must not run') })
    await a.ready()
    await t.rejects(a.injectWS('/ws'), /Unexpected server response: 503/, `${mode} mode`)
    await a.close()
  }
})

t.test('injectWS while not ready: held in every mode (an in-process caller cannot retry) and let in at readiness', async (t) => {
  for (const mode of ['hold', 'reject', 'accept-then-close'] as const) {
    const db = new Switch(false)
    const a = await app(t, mode, db)
    const pending = a.injectWS('/ws')
    await until(() => a.readiness.websocket?.getConnectionReadiness().held === 1)
    db.up = true
    const ws = await pending
    const echo = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())))
    ws.send('hi')
    t.equal(await echo, 'echo hi', `${mode} mode`)
    ws.terminate()
  }
})

t.test('a preValidation hook that refuses (401) still answers through the gate', async (t) => {
  const db = new Switch(true)
  const a = Fastify()
  t.teardown(() => a.close())
  await a.register(readiness, { probes: { db: db.check } })
  await a.register(websocket)
  a.get('/ws', { websocket: true, preValidation: async (_req, reply) => { await reply.code(401).send({ error: 'no' }) } }, () => {})
  await a.ready()
  await until(() => a.readiness.isReady())
  await t.rejects(a.injectWS('/ws'), /Unexpected server response: 401/)
})

t.test('open injectWS sockets do not make app.close() wait out the drain timeout', async (t) => {
  const a = await app(t, 'hold', new Switch(true))
  await until(() => a.readiness.isReady())
  const sockets = await Promise.all([a.injectWS('/ws'), a.injectWS('/ws'), a.injectWS('/ws')])
  const codes = sockets.map((ws) => new Promise<number>((resolve) => ws.once('close', (c) => resolve(c))))
  // What the drain reports: a socket that waits out drainTimeout is cut and counted as terminated.
  const drained: Array<[number, number, number]> = []
  a.readiness.on('socketsDrained', (code, closed, terminated) => { drained.push([code, closed, terminated]) })
  const started = Date.now()
  await a.close()
  const took = Date.now() - started
  t.same(drained, [[1012, 3, 0]], 'all three finished the closing handshake; none waited out drainTimeout 5000 to be cut')
  t.comment(`close() took ${took} ms (drainSpread 1000, drainTimeout 5000)`)
  t.same(await Promise.all(codes), [1012, 1012, 1012], 'each got the drain\'s 1012')
})

t.test('injectWS sockets on routes the gate did not admit (opted out, declared before the suite) do not make close() wait either', async (t) => {
  for (const layout of ['readiness: false', 'declared before the suite'] as const) {
    const a = Fastify()
    await a.register(websocket)
    const echo = (socket: import('ws').WebSocket): void => { socket.on('message', (d) => socket.send(`echo ${d.toString()}`)) }
    if (layout === 'declared before the suite') a.get('/ws', { websocket: true }, echo)
    await a.register(readiness, { probes: { db: async () => {} }, websocket: { drainTimeoutMs: 10_000 }, shutdown: { signals: false, delayMs: 0 } })
    if (layout === 'readiness: false') a.get('/ws', { websocket: true, readiness: false }, echo)
    await a.ready()
    await until(() => a.readiness.isReady())
    const ws = await a.injectWS('/ws')
    const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)))
    const drained: Array<[number, number, number]> = []
    a.readiness.on('socketsDrained', (code, closed, terminated) => { drained.push([code, closed, terminated]) })
    const started = Date.now()
    // @fastify/websocket came first, so its own preClose would close with 1005 before a bare close()'s
    // drain: the shutdown sequence drains first in every layout.
    await a.readiness.shutdown()
    const took = Date.now() - started
    t.same(drained, [[1012, 1, 0]], `${layout}: the socket finished the closing handshake; it did not wait out drainTimeout 10000 to be cut`)
    t.comment(`${layout}: shutdown took ${took} ms`)
    t.equal(await code, 1012, `${layout}: the peer got the drain's 1012`)
  }
})
