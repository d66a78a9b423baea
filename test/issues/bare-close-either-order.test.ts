import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness from '../../index.js'
import { closed, connect, listen, until } from '../helpers/net.js'

/**
 * Issue 25: with @fastify/websocket registered before the suite (how most apps are) a bare app.close()
 * (a hand-written `process.on('SIGTERM', () => app.close())`, close-with-grace, a test's teardown) ran
 * @fastify/websocket's preClose first, which closes every socket with no code: 99 of 100 clients saw
 * 1005 instead of the suite's 1012. The gate now drains from an onClose hook added once the app is ready,
 * which runs before any preClose hook: the same outcome in either order.
 */
const SOCKETS = 100
const HELD = 5

for (const order of ['@fastify/websocket first', 'suite first'] as const) {
  t.test(`${order}: a bare app.close() closes every socket with 1012 and refuses held upgrades with 503`, async (t) => {
    const app = Fastify()
    const suite = { probes: { search: { check: async () => { throw new Error('down') }, critical: false } }, websocket: { mode: 'hold' as const, holdTimeoutMs: 60_000 }, shutdown: false as const }
    if (order === 'suite first') { await app.register(readiness, suite); await app.register(websocket) } else { await app.register(websocket); await app.register(readiness, suite) }
    app.get('/chat', { websocket: true }, (socket) => { socket.on('message', (d) => socket.send(d.toString())) })
    app.get('/search', { websocket: true, readiness: { requires: ['search'] } }, () => {})
    const { ws } = await listen(app)
    await app.readiness.waitFor(undefined, { timeoutMs: 10_000 })
    const outcomes = await Promise.all(Array.from({ length: SOCKETS }, async () => await connect(`${ws}/chat`)))
    const sockets = outcomes.map((o) => { if (o.kind !== 'open') throw new Error(`should open: ${JSON.stringify(o)}`); return o.ws })
    const codes = sockets.map(async (s) => (await closed(s)).code)
    const held = Array.from({ length: HELD }, async () => await connect(`${ws}/search`))
    await until(() => app.readiness.websocket?.getConnectionReadiness().held === HELD, 10_000)
    await app.close()
    const got = await Promise.all(codes)
    const byCode = got.reduce<Record<number, number>>((acc, c) => { acc[c] = (acc[c] ?? 0) + 1; return acc }, {})
    t.same(byCode, { 1012: SOCKETS }, 'every socket got 1012 (none 1005 or 1006)')
    const refused = await Promise.all(held)
    t.same(refused.map((o) => o.kind === 'refused' ? o.status : o.kind), Array(HELD).fill(503), 'every held upgrade got its 503')
  })
}
