import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness from '../../index.js'
import { closed, connect, listen } from '../helpers/net.js'

/**
 * @fastify/websocket's own suite ("Should be able to pass clientTracking option in false to ws") closes an
 * app whose ws server keeps no `clients` set: the gate iterated `wss.clients` on close and threw
 * "wss.clients is not iterable", so app.close() failed. The gate knows those sockets through its routes.
 */
for (const order of ['@fastify/websocket first', 'suite first'] as const) {
  t.test(`${order}, clientTracking: false: a bare app.close() resolves and the open socket gets 1012`, async (t) => {
    const app = Fastify()
    const suite = { probes: { db: async () => {} }, shutdown: false as const }
    const ws = { options: { clientTracking: false } }
    if (order === 'suite first') { await app.register(readiness, suite); await app.register(websocket, ws) } else { await app.register(websocket, ws); await app.register(readiness, suite) }
    app.get('/chat', { websocket: true }, (socket) => { socket.on('message', (d) => socket.send(d.toString())) })
    const { ws: url } = await listen(app)
    await app.readiness.waitFor(undefined, { timeoutMs: 10_000 })
    const outcome = await connect(`${url}/chat`)
    if (outcome.kind !== 'open') throw new Error(`should open: ${JSON.stringify(outcome)}`)
    const code = closed(outcome.ws)
    await t.resolves(app.close(), 'app.close() resolves')
    t.equal((await code).code, 1012, 'the socket got the suite\'s close code')
  })
}
