import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { ReadinessClient, type ReadinessClientOptions, type WebSocketConstructor } from '../lib/client/index.js'
import { parseRetryAfter, retryDelay, DEFAULT_BACKOFF, HINT_JITTER_MAX_MS, MAX_TIMER_MS } from '../lib/client/backoff.js'
import { sleep } from './helpers/net.js'
import { hostileServer, type Behaviour, type Hostile } from './fixtures/delivery-hostile.js'

// One named regression test per row of issue 17's table. Each runs one client against a real hostile server on
// loopback for WINDOW_MS and counts what the server saw. With the defaults (delays >= 125, 250, 500, 1000 ms ...)
// at most 5 attempts fit in 3 s; the client before this change made 1,000-2,000 there.
const WINDOW_MS = 3000
const BOUND = 6

const WS = WebSocket as unknown as WebSocketConstructor

async function run (t: Test, behaviour: Behaviour, options: ReadinessClientOptions = {}, healthStatus = 200): Promise<{ server: Hostile, client: ReadinessClient, delays: number[], warnings: string[] }> {
  const server = await hostileServer(behaviour, healthStatus)
  t.teardown(() => server.close())
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(w.name) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const client = new ReadinessClient(server.url, { WebSocket: WS, ...options })
  t.teardown(() => client.close())
  const delays: number[] = []
  client.on('retry', (r) => delays.push(r.delayMs))
  await sleep(WINDOW_MS)
  client.close()
  return { server, client, delays, warnings }
}

for (const retryAfter of ['0', '-1']) {
  t.test(`row "503 with Retry-After: ${retryAfter}": bounded by the backoff, not a storm`, async (t) => {
    const { server, delays } = await run(t, { kind: 'refuse', status: 503, retryAfter })
    t.ok(server.upgrades() <= BOUND, `${server.upgrades()} attempts in ${WINDOW_MS} ms (was 460-640/s)`)
    t.ok(delays.every((d, i) => i === 0 || d >= delays[i - 1] / 2), `delays keep growing: ${delays.map(Math.round).join(', ')}`)
  })
}

for (const retryAfter of ['99999999', '1e12', new Date(Date.now() + 50 * 86_400_000).toUTCString()]) {
  t.test(`row "503 with Retry-After: ${retryAfter}": no overflow, waits at most the hint ceiling`, async (t) => {
    const { server, delays, warnings } = await run(t, { kind: 'refuse', status: 503, retryAfter })
    t.notOk(warnings.includes('TimeoutOverflowWarning'), 'no TimeoutOverflowWarning')
    t.ok(delays.length >= 1 && delays.every((d) => d <= DEFAULT_BACKOFF.hintCeilingMs + HINT_JITTER_MAX_MS), `every delay within the ceiling: ${delays.map(Math.round).join(', ')}`)
    t.ok(server.upgrades() <= BOUND, `${server.upgrades()} attempts (was 550-610/s)`)
    // 1e12 is not a Retry-After (neither delta-seconds nor a date): plain backoff; the others wait the ceiling.
    if (retryAfter !== '1e12') t.equal(server.upgrades(), 1, 'one attempt, then a wait of the ceiling')
  })
}

t.test('row "accepts, then 1013 with reason retry in 99999999s": the hint is capped, no overflow', async (t) => {
  const { server, delays, warnings } = await run(t, { kind: 'accept-close', code: 1013, reason: 'retry in 99999999s' })
  t.notOk(warnings.includes('TimeoutOverflowWarning'))
  t.equal(server.upgrades(), 1, 'one connection in 3 s (was ~1,240)')
  t.ok(delays[0] >= DEFAULT_BACKOFF.hintCeilingMs && delays[0] <= DEFAULT_BACKOFF.hintCeilingMs + HINT_JITTER_MAX_MS, `waits the ceiling: ${delays[0]}`)
})

for (const kind of ['404', 'reset'] as const) {
  t.test(`row "healthUrl says 200 while upgrades get ${kind}": the health path is bounded by the same backoff`, async (t) => {
    const behaviour: Behaviour = kind === '404' ? { kind: 'refuse', status: 404 } : { kind: 'reset' }
    const server = await hostileServer(behaviour, 200)
    t.teardown(() => server.close())
    const client = new ReadinessClient(server.url, { WebSocket: WS, healthUrl: server.healthUrl })
    t.teardown(() => client.close())
    await sleep(WINDOW_MS)
    client.close()
    t.ok(server.upgrades() <= BOUND, `${server.upgrades()} upgrades (was ~1,000-1,200)`)
    t.ok(server.health() <= BOUND, `${server.health()} health requests (was as many)`)
  })
}

t.test('row "the incident: handler closes with 1011, health says 200": bounded with healthUrl too', async (t) => {
  const server = await hostileServer({ kind: 'accept-close', code: 1011, reason: 'store not ready' }, 200)
  t.teardown(() => server.close())
  const client = new ReadinessClient(server.url, { WebSocket: WS, healthUrl: server.healthUrl })
  t.teardown(() => client.close())
  await sleep(WINDOW_MS)
  client.close()
  t.ok(server.upgrades() <= BOUND, `${server.upgrades()} connections in 3 s (was 307/s)`)
})

t.test('row "accepts, then closes at once with any non-final code": open does not reset the backoff', async (t) => {
  const { server, client } = await run(t, { kind: 'accept-close', code: 1001 })
  t.ok(server.upgrades() <= BOUND, `${server.upgrades()} connections in 3 s (was ~6/s forever)`)
  t.ok(client.attempts >= 3, `the attempt counter grew to ${client.attempts}: opens are not healthy until they last`)
})

t.test('row "accepts TCP, never answers the handshake": handshake timeout, maxAttempts and maxElapsedMs fire, the buffer is reported', async (t) => {
  const server = await hostileServer({ kind: 'silent' })
  t.teardown(() => server.close())
  const byAttempts = new ReadinessClient(server.url, { WebSocket: WS, handshakeTimeoutMs: 200, maxAttempts: 3, backoff: { initialMs: 50 } })
  const dropped: unknown[] = []
  byAttempts.on('dropped', (d) => dropped.push(d))
  for (let i = 0; i < 5; i++) byAttempts.send(`m${i}`)
  const closes: string[] = []
  byAttempts.on('close', (c) => closes.push(`${c.code} ${c.reason}`))
  const gave = await new Promise<{ attempts: number }>((resolve) => byAttempts.on('giveup', resolve))
  t.equal(gave.attempts, 3, 'maxAttempts: 3 fired')
  t.equal(closes.length, 3, 'three attempts (the first try and two retries), each aborted')
  t.ok(closes.every((c) => c === '1006 handshake timeout'))
  t.same(dropped, ['m0', 'm1', 'm2', 'm3', 'm4'], 'the 5 buffered messages are reported, not stuck')
  t.equal(byAttempts.state, 'closed')

  // Stuck in connecting with a long handshake timeout: maxElapsedMs still fires, mid-handshake.
  const started = Date.now()
  const byTime = new ReadinessClient(server.url, { WebSocket: WS, maxElapsedMs: 800 })
  t.teardown(() => byTime.close())
  await new Promise((resolve) => byTime.on('giveup', resolve))
  const took = Date.now() - started
  t.ok(took >= 800 && took < 5000, `gave up after ${took} ms while connecting`)
  t.equal(byTime.state, 'closed')
})

t.test('Retry-After parsing: delta-seconds, dates, and nothing else', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(parseRetryAfter('5', now), 5000)
  t.equal(parseRetryAfter(' 0 ', now), 0)
  t.equal(parseRetryAfter('-1', now), null)
  t.equal(parseRetryAfter('1e12', now), null)
  t.equal(parseRetryAfter('1.5', now), null)
  t.equal(parseRetryAfter('', now), null)
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now), 10_000)
  t.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), 0, 'a date in the past means now')
  t.equal(parseRetryAfter('soon', now), null)
  // Whatever the hint, the delay handed to setTimeout is finite and within bounds.
  for (const hint of [0, 1e12 * 1000, Number.MAX_VALUE, Infinity, NaN, -5]) {
    for (let attempt = 1; attempt < 200; attempt += 37) {
      const { delayMs } = retryDelay(attempt, hint, DEFAULT_BACKOFF, Math.random)
      t.ok(Number.isFinite(delayMs) && delayMs >= 0 && delayMs <= MAX_TIMER_MS && delayMs <= DEFAULT_BACKOFF.hintCeilingMs + HINT_JITTER_MAX_MS, `hint ${hint}, attempt ${attempt}: ${delayMs}`)
    }
  }
})

t.test('options are validated with the option named', async (t) => {
  t.throws(() => new ReadinessClient('ws://127.0.0.1:1/x', { WebSocket: WS, backoff: { maxMs: 2 ** 31 } }), /backoff\.maxMs/)
  t.throws(() => new ReadinessClient('ws://127.0.0.1:1/x', { WebSocket: WS, handshakeTimeoutMs: -1 }), /handshakeTimeoutMs/)
  t.throws(() => new ReadinessClient('ws://127.0.0.1:1/x', { WebSocket: WS, backoff: { hintFloorMs: 5000, hintCeilingMs: 1000 } }), /hintFloorMs/)
  t.throws(() => new ReadinessClient('ws://127.0.0.1:1/x', { WebSocket: WS, delivery: { sessionId: 'bad id' } }), /sessionId/)
})
