import t from 'tap'
import WebSocket from 'ws'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, readClientOptions } from '../../lib/client/options.js'
import { DEFAULT_MAX_HOLD_MS, probeScheduleHoldMs } from '../../lib/core/policy.js'
import { PROBE_DEFAULTS } from '../../lib/probes/options.js'
import { buildApp, Switch } from '../helpers/app.js'
import { listen, sleep, until } from '../helpers/net.js'

/**
 * Issue 24: the client's handshakeTimeoutMs defaulted to 10 s, while the gate's derived hold lasts up to its
 * maxHoldTimeoutMs (60 s by default; 42.1 s for a probes-only start): a held upgrade, the fastest way in,
 * was abandoned by our own client after 10 s and started again at the back of the backoff. The default is
 * now 65 s, longer than any hold of a default gate.
 */

const WS = WebSocket as unknown as WebSocketConstructor

t.test('the default handshake timeout outlasts every default hold of the gate', async (t) => {
  const { handshakeTimeoutMs } = readClientOptions({ WebSocket: WS })
  t.equal(handshakeTimeoutMs, DEFAULT_HANDSHAKE_TIMEOUT_MS)
  t.ok(handshakeTimeoutMs > DEFAULT_MAX_HOLD_MS, `${handshakeTimeoutMs} ms > the hold cap ${DEFAULT_MAX_HOLD_MS} ms`)
  t.ok(handshakeTimeoutMs > probeScheduleHoldMs(PROBE_DEFAULTS), 'and the probes-only hold')
})

t.test('a real upgrade held past 10 s is waited out with the defaults: one attempt, open the moment the route is ready', async (t) => {
  const db = new Switch(false)
  const app = await buildApp(t, { probes: { db: { check: db.check, intervalMs: 20, startIntervalMs: 5 } }, websocket: { mode: 'hold', holdTimeoutMs: 20_000 } })
  app.get('/chat', { websocket: true }, () => {})
  const { ws } = await listen(app)
  const client = new ReadinessClient(`${ws}/chat`, { WebSocket: WS })
  t.teardown(() => client.close())
  const events: string[] = []
  client.on('close', (c) => events.push(`close ${c.code} ${c.reason}`))
  client.on('retry', () => events.push('retry'))
  await until(() => app.readiness.websocket.getConnectionReadiness().held === 1)
  await sleep(10_500) // the condition under test: a hold past the old 10 s default
  t.equal(app.readiness.websocket.getConnectionReadiness().held, 1, 'still held after 10.5 s')
  t.equal(client.state, 'connecting')
  db.up = true
  await new Promise<void>((resolve) => client.on('open', resolve))
  t.same(events, [], 'no close, no retry: the first attempt got in')
})
