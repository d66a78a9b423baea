import t from 'tap'
import WebSocket from 'ws'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { buildApp, Switch } from '../helpers/app.js'
import { listen, sleep, until } from '../helpers/net.js'

/**
 * Issue 24: in hold mode the client's first attempt hit the gate's 3 s hold timeout, got 503 with
 * Retry-After: 2 and then waited 2.3-2.9 s, arriving seconds after clients that know nothing of the gate.
 * A held upgrade is the fastest way in (it is let through the instant the route is ready), so:
 * - a hold longer than 3 s is waited out: the client's handshakeTimeoutMs (10 s) is longer than the gate's
 *   hold cap (maxHoldTimeoutMs, 5 s), and a hold raised towards it is not aborted either;
 * - a hold that ends in 503 (the gate's hold timeout) is followed by a new attempt at once, held in its
 *   turn, instead of the Retry-After wait: the time held counts as waited, so attempts still begin at
 *   least a backoff apart.
 */

const WS = WebSocket as unknown as WebSocketConstructor

/** The next `event` of `client`. */
function next (client: ReadinessClient, event: 'open' | 'close' | 'retry'): Promise<any> {
  return new Promise((resolve) => {
    const listener = (info?: unknown): void => { client.off(event, listener as never); resolve(info as never) }
    client.on(event, listener as never)
  })
}

t.test('a held upgrade longer than 3 s is waited out, not aborted: one attempt, open the moment the route is ready', async (t) => {
  const db = new Switch(false)
  const app = await buildApp(t, { probes: { db: { check: db.check, intervalMs: 20, startIntervalMs: 5 } }, websocket: { mode: 'hold', holdTimeoutMs: 8000 } })
  app.get('/chat', { websocket: true }, () => {})
  const { ws } = await listen(app)
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS })
  t.teardown(() => client.close())
  const events: string[] = []
  client.on('close', (c) => events.push(`close ${c.code} ${c.reason}`))
  client.on('retry', () => events.push('retry'))
  await until(() => app.readiness.websocket.getConnectionReadiness().held === 1)
  await sleep(3500) // the condition under test: a hold past the old 3 s
  t.equal(app.readiness.websocket.getConnectionReadiness().held, 1, 'still held after 3.5 s')
  db.up = true
  await next(client, 'open')
  t.same(events, [], 'no close, no retry: the first attempt got in')
})

t.test('a hold that times out (503 + Retry-After) is followed by a new held attempt at once, not by the Retry-After wait', async (t) => {
  const db = new Switch(false)
  const app = await buildApp(t, { probes: { db: { check: db.check, intervalMs: 20, startIntervalMs: 5 } }, websocket: { mode: 'hold', holdTimeoutMs: 600 } })
  app.get('/chat', { websocket: true }, () => {})
  const { ws } = await listen(app)
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, random: () => 1 })
  t.teardown(() => client.close())
  const refused: Array<{ status: number, retryAfter: number | null }> = []
  client.on('refused', (r) => refused.push(r))
  const retry = await next(client, 'retry')
  t.equal(refused[0]?.status, 503, 'the hold timed out')
  t.ok((refused[0]?.retryAfter ?? 0) >= 1, `with Retry-After: ${refused[0]?.retryAfter}`)
  t.same(retry, { attempt: 1, delayMs: 0, source: 'backoff' }, 'the next attempt goes at once: the 600 ms held outlast the first backoff step (250 ms)')
  await until(() => app.readiness.websocket.getConnectionReadiness().held === 1) // held again
  db.up = true
  await next(client, 'open')
  t.pass('in the moment the route is ready')
})
