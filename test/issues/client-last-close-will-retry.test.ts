import t from 'tap'
import WebSocket from 'ws'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { buildApp, Switch } from '../helpers/app.js'
import { listen, sleep, until } from '../helpers/net.js'

/**
 * Issue 17 (trial: "the client's last close event says willRetry=true" when
 * that close exhausts maxAttempts, and `giveup` follows in the same tick). The
 * close that ends it now says willRetry: false; every earlier one true.
 */

const WS = WebSocket as unknown as WebSocketConstructor
const fast = { initialMs: 20, maxMs: 40, hintFloorMs: 0, hintCeilingMs: 40 }

function record (client: ReadinessClient): Promise<string[]> {
  const log: string[] = []
  client.on('close', (c) => log.push(`close ${c.code} ${String(c.willRetry)}`))
  client.on('retry', () => log.push('retry'))
  return new Promise((resolve) => client.on('giveup', (g) => { log.push(`giveup ${g.attempts}`); resolve(log) }))
}

t.test('refused upgrades (the gate in reject mode): the third close of maxAttempts 3 says willRetry false', async (t) => {
  const app = await buildApp(t, { probes: { db: new Switch(false).check }, websocket: { mode: 'reject' } })
  app.get('/chat', { websocket: true }, () => {})
  const { ws } = await listen(app)
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, maxAttempts: 3, backoff: fast })
  t.same(await record(client), ['close 1006 true', 'retry', 'close 1006 true', 'retry', 'close 1006 false', 'giveup 3'])
})

t.test('the handler closes 1011 at once: the last close says willRetry false', async (t) => {
  const app = await buildApp(t, {})
  app.get('/chat', { websocket: true }, (socket) => { socket.close(1011, 'boom') })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, maxAttempts: 2, backoff: fast })
  t.same(await record(client), ['close 1011 true', 'retry', 'close 1011 false', 'giveup 2'])
})

t.test('maxElapsedMs passes while a socket is open (not yet healthy): its close says willRetry false', async (t) => {
  const app = await buildApp(t, {})
  app.get('/chat', { websocket: true }, (socket) => { setTimeout(() => socket.close(1011, 'late'), 300) })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, maxElapsedMs: 200, healthyAfterMs: 5000, backoff: fast })
  t.same(await record(client), ['close 1011 false', 'giveup 1'])
})

t.test('a close listener that calls close() stops the client: no retry, no giveup', async (t) => {
  const app = await buildApp(t, {})
  app.get('/chat', { websocket: true }, (socket) => { socket.close(1011, 'boom') })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, backoff: fast })
  const log: string[] = []
  client.on('retry', () => log.push('retry'))
  client.on('close', () => { log.push('close'); client.close() })
  await until(() => log.length > 0)
  await sleep(200)
  t.same(log, ['close'])
  t.equal(client.state, 'closed')
})
