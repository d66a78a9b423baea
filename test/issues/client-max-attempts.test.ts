import t from 'tap'
import WebSocket from 'ws'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { buildApp, Switch } from '../helpers/app.js'
import { listen, sleep, until } from '../helpers/net.js'
import { silentServer } from '../helpers/servers.js'

/**
 * Issue 17 ("maxAttempts honoured in every state"): `maxAttempts: 3` made 4
 * connections and reported `giveup {"attempts":3}`; `maxAttempts: 0` made one.
 * The documented meaning: at most N connection attempts in a row that fail,
 * then `giveup` with `attempts: N`; N is an integer >= 1 (no limit: omit it or
 * pass Infinity). Counted on the server side: TCP connections accepted.
 */

const WS = WebSocket as unknown as WebSocketConstructor
const fast = { initialMs: 20, maxMs: 40, hintFloorMs: 0, hintCeilingMs: 40 }

function giveup (client: ReadinessClient): Promise<{ attempts: number, elapsedMs: number }> {
  return new Promise((resolve) => client.on('giveup', resolve))
}

t.test('refused upgrades (the gate in reject mode, 503 + Retry-After): exactly maxAttempts connections', async (t) => {
  const app = await buildApp(t, { probes: { db: new Switch(false).check }, websocket: { mode: 'reject' } })
  app.get('/chat', { websocket: true }, () => {})
  const { ws } = await listen(app)
  let connections = 0
  app.server.on('connection', () => { connections++ })
  for (const max of [1, 3]) {
    connections = 0
    const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, maxAttempts: max, backoff: fast })
    const refused: number[] = []
    client.on('refused', (r) => refused.push(r.status))
    const gave = await giveup(client)
    await sleep(100) // nothing more comes after giveup
    t.equal(connections, max, `maxAttempts: ${max}: ${connections} connections`)
    t.equal(refused.length, max, `${max} refusals seen`)
    t.equal(gave.attempts, max, `giveup says attempts: ${max}`)
    t.equal(client.attempts, max)
    t.equal(client.state, 'closed')
  }
})

t.test('handshake timeouts (accepts TCP, never answers): exactly maxAttempts connections', async (t) => {
  const server = await silentServer(t)
  let total = 0
  const counting = class extends WebSocket { constructor (url: string, protocols?: string | string[]) { super(url, protocols); total++ } }
  const client = new ReadinessClient(`ws://127.0.0.1:${server.port}/chat`, { WebSocket: counting as unknown as WebSocketConstructor, maxAttempts: 3, handshakeTimeoutMs: 150, backoff: fast })
  const closes: string[] = []
  client.on('close', (c) => closes.push(`${c.code} ${c.reason}`))
  const gave = await giveup(client)
  await sleep(300)
  t.equal(total, 3, 'three connection attempts')
  t.same(closes, ['1006 handshake timeout', '1006 handshake timeout', '1006 handshake timeout'])
  t.equal(gave.attempts, 3)
  await until(() => server.connections() === 0, 2000) // every aborted attempt was really closed
})

t.test('health polling (healthUrl says 200, the handler closes 1011 at once): exactly maxAttempts connections, one health request per retry', async (t) => {
  const app = await buildApp(t, { health: { cors: true } })
  let upgrades = 0
  app.get('/chat', { websocket: true }, (socket) => { upgrades++; socket.close(1011, 'boom') })
  // Counted where the client asks: the health route is asked alongside each wait (issue 24), so with these
  // 10-20 ms waits a request may be aborted by the retry before the server sees it.
  let healthRequests = 0
  const realFetch = globalThis.fetch
  globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    if (String(input).includes('/health/')) healthRequests++
    return realFetch(input, init)
  }) as typeof fetch
  t.teardown(() => { globalThis.fetch = realFetch })
  const { ws, http } = await listen(app)
  await until(() => app.readiness.isReady())
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, maxAttempts: 3, healthUrl: `${http}/health/websocket`, backoff: fast })
  const gave = await giveup(client)
  await sleep(200)
  t.equal(upgrades, 3, 'three sockets opened (and were closed 1011)')
  t.equal(gave.attempts, 3)
  t.equal(healthRequests, 2, 'asked before each of the two retries, not after giving up')
})

t.test('a healthy connection resets the count: after it closes the client still tries again, even with maxAttempts: 1', async (t) => {
  const app = await buildApp(t, {})
  let upgrades = 0
  app.get('/chat', { websocket: true }, (socket) => {
    upgrades++
    // The first socket lives past healthyAfterMs, then the server goes away for good (every later one closes at once).
    if (upgrades === 1) setTimeout(() => socket.close(1011, 'bye'), 250)
    else socket.close(1011, 'still broken')
  })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, maxAttempts: 1, healthyAfterMs: 100, backoff: fast })
  const gave = await giveup(client)
  t.equal(upgrades, 2, 'the healthy socket, then one failed attempt')
  t.equal(gave.attempts, 1)
})

t.test('maxAttempts is validated: an integer >= 1, or Infinity for no limit', async (t) => {
  for (const bad of [0, -1, 1.5, NaN]) {
    t.throws(() => new ReadinessClient('ws://127.0.0.1:1/x', { WebSocket: WS, maxAttempts: bad }), { name: 'RangeError', message: /maxAttempts/ }, `maxAttempts: ${bad} throws`)
  }
  const unlimited = new ReadinessClient('ws://127.0.0.1:1/x', { WebSocket: WS, maxAttempts: Infinity })
  unlimited.close()
  t.pass('Infinity is no limit')
})
