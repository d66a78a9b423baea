import t from 'tap'
import { Agent, request } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import Fastify from 'fastify'
import readiness from '../../index.js'

// Issue 24: to know what a drain must wait for, the shutdown part kept each connection's last response
// until that connection's next request. A finished response stayed reachable, survived young-generation
// collections and was promoted: 2.3k instructions a request on a plain route (96 % of plain Fastify,
// bench section 19). It is now dropped when it finishes; one still in flight is kept (the drain needs it).

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

t.test('a finished response on a kept-alive connection is not held by the suite', async (t) => {
  const app = Fastify()
  await app.register(readiness, { shutdown: { signals: false }, health: false, websocket: false, metrics: false })
  let seen: WeakRef<object> | undefined
  app.get('/hello', async (_request, reply) => { seen = new WeakRef(reply.raw); return { hello: 'world' } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const port = (app.server.address() as { port: number }).port
  await new Promise<void>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/hello', agent }, (res) => { res.resume(); res.once('end', () => resolve()) }).once('error', reject).end()
  })
  // The connection stays open (keep-alive, no next request): only the suite could still hold the response.
  await new Promise((resolve) => setImmediate(resolve))
  for (let i = 0; i < 3; i++) { gc(); await new Promise((resolve) => setImmediate(resolve)) }
  t.ok(seen !== undefined, 'the handler ran')
  t.equal(seen?.deref(), undefined, 'collected once finished')
})
