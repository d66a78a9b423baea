import t, { type Test } from 'tap'
import RwsModule from 'reconnecting-websocket'
import { WebSocket as PartySocket } from 'partysocket'
import WebSocket from 'ws'
import { ReadinessClient } from '../lib/client/index.js'
import { browser, skipWithoutChromium } from './helpers/browser.js'
import { sleep } from './helpers/net.js'
import { startInstance, status, waitFor, type Instance } from './helpers/proxies.js'
import { freePort } from './helpers/servers.js'

/**
 * Issue 25: what each gate mode gives to reconnecting clients other than ours. reconnecting-websocket and
 * partysocket queue what the app sends while they are not connected and flush the queue into the next
 * socket the moment it opens; accept-then-close opens that socket (101) and closes it with 1013 before the
 * handler runs, so the flushed messages are lost. Each client sends one message every 100 ms through a cold
 * start and a restart (SIGTERM, a new instance with its own cold start on the same port); the instances
 * log every message their handler got, and what none of them got is lost.
 */

const COLD_START_MS = '1000'
// One message per client per 100 ms: a chat's pace, and below the 100 that ours keeps by default (maxBuffered).
const TICK_MS = 100

interface Sender { name: string, send: (text: string) => void, close: () => void }

// Its CommonJS build sets module.exports to the class; its types describe an ES default export.
const ReconnectingWebSocket = RwsModule as unknown as typeof RwsModule.default
let dropped = 0

function clients (url: string): Sender[] {
  // The reconnect delays of the two libraries shortened (defaults: 1-5 s, growing to 10 s) to bound the test.
  const delays = { minReconnectionDelay: 100, maxReconnectionDelay: 1000 }
  const rws = new ReconnectingWebSocket(url, [], { WebSocket, ...delays })
  const party = new PartySocket(url, [], { WebSocket, ...delays })
  const ours = new ReadinessClient(url, { WebSocket })
  // Ours reports what it cannot keep (beyond maxBuffered) instead of losing it silently: counted apart.
  ours.on('dropped', () => { dropped++ })
  return [
    { name: 'reconnecting-websocket', send: (m) => rws.send(m), close: () => rws.close() },
    { name: 'partysocket', send: (m) => party.send(m), close: () => party.close() },
    { name: 'fastify-readiness/client', send: (m) => ours.send(m), close: () => ours.close() }
  ]
}

async function scenario (t: Test, mode: string): Promise<Record<string, { sent: number, lost: number }>> {
  const port = await freePort()
  const received = new Set<string>()
  dropped = 0
  const env = { GATE_MODE: mode, PHASE_MS: COLD_START_MS, LOG_MESSAGES: '1' }
  let instance: Instance = await startInstance(t, 'first', port, env, received)
  const senders = clients(`ws://127.0.0.1:${port}/ws`)
  t.teardown(() => { for (const s of senders) s.close() })
  let n = 0
  const tick = async (): Promise<void> => { for (const s of senders) s.send(`${s.name}#${n}`); n++; await sleep(TICK_MS) }

  // The cold start: sending from the first moment until the instance is ready, then a little longer.
  const marks: Record<string, number> = {}
  while ((await status(`http://127.0.0.1:${port}/health/ready`)) !== 200) await tick()
  marks.ready = n
  for (let i = 0; i < 10; i++) await tick()
  // The restart: SIGTERM (drain, 1012), down, a new instance's cold start; the clients keep sending.
  marks.sigterm = n
  instance.child.kill('SIGTERM')
  let down = true
  const restart = (async () => {
    await instance.exited
    marks.exited = n
    instance = await startInstance(t, 'second', port, env, received)
    await waitFor('the new instance is ready', async () => (await status(`http://127.0.0.1:${port}/health/ready`)) === 200)
    marks.ready2 = n
    down = false
  })()
  while (down) await tick()
  await restart
  for (let i = 0; i < 10; i++) await tick()

  // Everything sent that is still on its way has until then to arrive; what has not is lost.
  const sent = n
  await waitFor('every message arrived', async () => received.size === sent * senders.length, 10_000).catch(() => {})
  const result: Record<string, { sent: number, lost: number }> = {}
  for (const s of senders) {
    const missing: number[] = []
    for (let i = 0; i < sent; i++) if (!received.has(`${s.name}#${i}`)) missing.push(i)
    result[s.name] = { sent, lost: missing.length }
    if (process.env.DEBUG_LOST) t.comment(`${s.name} lost ${missing.join(',')}; marks ${JSON.stringify(marks)}`)
  }
  t.comment(`${mode}: ${JSON.stringify(result)}; fastify-readiness/client reported ${dropped} dropped`)
  return result
}

for (const mode of ['hold', 'reject']) {
  t.test(`${mode}: no client loses a message through a cold start and a restart`, { timeout: 60_000 }, async (t) => {
    const result = await scenario(t, mode)
    for (const [name, { sent, lost }] of Object.entries(result)) t.equal(lost, 0, `${name}: 0 of ${sent} lost`)
  })
}

t.test('accept-then-close: reconnecting-websocket and partysocket lose what they flush into the 1013 socket; ours re-sends it', { timeout: 60_000 }, async (t) => {
  const result = await scenario(t, 'accept-then-close')
  t.ok(result['reconnecting-websocket'].lost > 0, `reconnecting-websocket: ${result['reconnecting-websocket'].lost} of ${result['reconnecting-websocket'].sent} lost`)
  t.ok(result.partysocket.lost > 0, `partysocket: ${result.partysocket.lost} of ${result.partysocket.sent} lost`)
  t.equal(result['fastify-readiness/client'].lost, 0, `fastify-readiness/client: 0 of ${result['fastify-readiness/client'].sent} lost (a 1013 "not admitted" means: re-send)`)
})

t.test('a browser\'s native WebSocket (Chromium), one attempt during a cold start, in each mode', { skip: skipWithoutChromium, timeout: 60_000 }, async (t) => {
  const page = await (await browser(t)).newPage()
  for (const mode of ['hold', 'reject', 'accept-then-close']) {
    const port = await freePort()
    await startInstance(t, mode, port, { GATE_MODE: mode, PHASE_MS: '1500' })
    t.equal(await status(`http://127.0.0.1:${port}/health/ready`), 503, `${mode}: still starting when the page connects`)
    const seen = await page.evaluate(async (url: string) => await new Promise<string[]>((resolve) => {
      const events: string[] = []
      const ws = new (globalThis as any).WebSocket(url)
      ws.onopen = () => { events.push('open') }
      ws.onmessage = (e: { data: string }) => { events.push(`message ${e.data}`); ws.close(1000) }
      ws.onerror = () => { events.push('error') }
      ws.onclose = (e: { code: number, reason: string }) => { events.push(`close ${e.code}${e.reason === '' ? '' : ` ${e.reason.split(';')[0]}`}`); resolve(events) }
    }), `ws://127.0.0.1:${port}/ws`)
    t.comment(`${mode}: ${seen.join(', ')}`)
    const expected: Record<string, string[]> = {
      hold: ['open', `message ${mode}`, 'close 1000'],
      reject: ['error', 'close 1006'],
      'accept-then-close': ['open', 'close 1013 not admitted: not ready']
    }
    t.same(seen, expected[mode], `${mode}: ${expected[mode].join(', ')}`)
  }
})
