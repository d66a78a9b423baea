import t from 'tap'
import WebSocket from 'ws'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { buildApp, Switch } from '../helpers/app.js'
import { listen, until } from '../helpers/net.js'

/**
 * Issue 24 ("our client first through the door"): after a restart the client's attempt counter had not
 * reset, because the socket had lived less than healthyAfterMs (5 s) before the drain's 1012, so it came
 * back on the backoff its cold start had grown (+2.4 s behind a client that knows nothing of the gate).
 * A drain (1001 / 1012) is a clean end, however young the socket: the first retry after it waits the
 * minimum. Once per healthy connection, so a server that accepts and closes 1001 at once still walks
 * the client up the backoff (issue 17's row).
 */

const WS = WebSocket as unknown as WebSocketConstructor

/** The next `event` of `client`. */
function next (client: ReadinessClient, event: 'open' | 'close' | 'retry'): Promise<any> {
  return new Promise((resolve) => {
    const listener = (info?: unknown): void => { client.off(event, listener as never); resolve(info as never) }
    client.on(event, listener as never)
  })
}
// random() = 1: every backoff delay is its bound, so "the minimum" is exactly initialMs.
const settings = { backoff: { initialMs: 100, maxMs: 10_000, hintFloorMs: 0, hintCeilingMs: 20 }, healthyAfterMs: 60_000, random: () => 1 }

t.test('a socket drained with 1012 before healthyAfterMs reconnects at once: its first retry is attempt 1, the minimum delay', async (t) => {
  const db = new Switch(false)
  const app = await buildApp(t, { probes: { db: { check: db.check, intervalMs: 20, startIntervalMs: 5 } }, websocket: { mode: 'reject' } })
  app.get('/chat', { websocket: true }, () => {})
  const { ws } = await listen(app)
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, ...settings })
  t.teardown(() => client.close())
  const retries: Array<{ attempt: number, delayMs: number }> = []
  client.on('retry', (r) => retries.push(r))
  await until(() => client.attempts >= 4, 20_000) // the cold start grows the backoff: 4 refusals in a row
  db.up = true
  await next(client, 'open')
  t.ok(retries.at(-1)!.attempt >= 4, `the cold start's last retry was attempt ${retries.at(-1)!.attempt}`)
  const closed = next(client, 'close') as Promise<{ code: number }>
  const retried = next(client, 'retry') as Promise<{ attempt: number, delayMs: number }>
  void app.close() // the suite's drain: 1012 to every open socket
  t.equal((await closed).code, 1012)
  const first = await retried
  t.equal(first.attempt, 1, 'the first retry after the drain is attempt 1')
  t.equal(first.delayMs, settings.backoff.initialMs, 'and waits the minimum, not the grown backoff')
  t.equal(client.attempts, 0, 'the drain is no failed attempt')
})

t.test('a server that accepts and closes 1001 at once still walks the client up the backoff', async (t) => {
  const app = await buildApp(t, {})
  app.get('/chat', { websocket: true }, (socket) => { socket.close(1001, 'going away') })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, ...settings, backoff: { ...settings.backoff, initialMs: 10 } })
  t.teardown(() => client.close())
  const retries: Array<{ attempt: number, delayMs: number }> = []
  await new Promise<void>((resolve) => client.on('retry', (r) => { retries.push(r); if (retries.length === 4) resolve() }))
  client.close()
  t.same(retries.map((r) => r.attempt), [1, 2, 3, 4], 'one reset (the first drain), then the count grows')
  t.same(retries.map((r) => r.delayMs), [10, 20, 40, 80], 'and so does the wait')
})
