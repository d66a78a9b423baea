import t, { type Test } from 'tap'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { Redis } from 'ioredis'
import { chromium, type Page } from 'playwright-core'
import { ReadinessClient, type WebSocketConstructor } from '../lib/client/index.js'
import { sleep, until } from './helpers/net.js'
import { missing, ready, startHaproxy, startLineProcess, summarizeCloses } from './helpers/processes.js'
import { freePort } from './helpers/servers.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/delivery-server.mjs', import.meta.url))
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const TOTAL = 10_000
const NODE_CLIENTS = 8
const BROWSER_CLIENTS = 2
const PER_CLIENT = TOTAL / (NODE_CLIENTS + BROWSER_CLIENTS)
const SEND_EVERY_MS = 20
// Sending is released in ninths: one at the start, one before each fault, one at the end, so every close path meets traffic in flight.
const STEPS = 9
let allowed = 0

interface Instance { name: string, port: number, child: ChildProcess, exited: Promise<number | null>, stop: (signal: NodeJS.Signals) => Promise<number | null> }

/** Every message any instance handled, from every instance's stdout (lines written before a kill -9 included). */
const handled: Array<{ session: string, seq: number, instance: string, incarnation: string, text: string, pid: number }> = []
/** Re-sent messages that arrived while a handler was still on them (claimed) and waited for its outcome. */
let waited = 0

async function startInstance (t: Test, name: string, port: number, prefix: string): Promise<Instance> {
  const proc = await startLineProcess(t, FIXTURE, { PORT: String(port), INSTANCE: name, PREFIX: prefix, WARMUP_MS: '400' }, (line, child) => {
    const [kind, session, seq, instance, incarnation, ...text] = line.split(' ')
    if (kind === 'D') handled.push({ session, seq: Number(seq), instance, incarnation, text: text.join(' '), pid: child.pid ?? 0 })
    if (kind === 'W') waited += Number(session)
  }, { name })
  return { name, port, ...proc }
}

/** A Node user: numbered messages `n<i>-<k>`, paced, through the delivery client. */
function nodeUser (i: number, url: string) {
  const client = new ReadinessClient(url, {
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    delivery: true,
    maxBuffered: PER_CLIENT,
    backoff: { initialMs: 100, maxMs: 1000, hintFloorMs: 200, hintCeilingMs: 1000 },
    healthyAfterMs: 1000
  })
  const closes: string[] = []
  client.on('close', ({ code, reason }) => closes.push(`${code} ${reason}`))
  const texts: string[] = []
  let k = 0
  const timer = setInterval(() => {
    if (k >= PER_CLIENT) { clearInterval(timer); return }
    if (k >= allowed) return
    const text = `n${i}-${k++}`
    if (client.send(text)) texts.push(text)
  }, SEND_EVERY_MS)
  return { client, closes, texts, done: () => k >= PER_CLIENT, stop: () => { clearInterval(timer); client.close() } }
}

t.test('10,000 numbered messages across 5 restarts, a lost dependency and a kill -9, two instances behind HAProxy sharing Redis, Node and Chromium clients: 0 lost, 0 duplicated',
  { skip: missing('haproxy'), timeout: 240_000 }, async (t) => {
    const prefix = `fastify-readiness:test:delivery:${process.pid}:${Date.now()}:`
    const [pa, pb, ph] = [await freePort(), await freePort(), await freePort()]
    const instances: Record<'a' | 'b', Instance> = { a: await startInstance(t, 'a', pa, prefix), b: await startInstance(t, 'b', pb, prefix) }
    await startHaproxy(t, ph, [{ name: 'a', port: pa }, { name: 'b', port: pb }])
    await ready(pa)
    await ready(pb)
    await sleep(300)

    // Most users come through HAProxy; two connect to instance a directly, so they meet its cold starts (accept-then-close).
    const users = Array.from({ length: NODE_CLIENTS }, (_, i) => nodeUser(i, i < 2 ? `ws://127.0.0.1:${pa}/chat` : `ws://127.0.0.1:${ph}/chat`))
    t.teardown(() => { for (const u of users) u.stop() })

    let page: Page | null = null
    const browserSkip = existsSync(CHROMIUM) ? false : `chromium is not installed at ${CHROMIUM}`
    if (browserSkip === false) {
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run'] })
      t.teardown(() => browser.close())
      page = await browser.newPage()
      await page.goto(`http://127.0.0.1:${ph}/`)
      await page.evaluate(async ({ clients, perClient, everyMs }) => {
        const { ReadinessClient } = await import('/client.js' as string)
        const g = globalThis as unknown as { users: unknown[], allowed: number }
        g.allowed = 0
        g.users = Array.from({ length: clients }, (_, i) => {
          const client = new ReadinessClient(`ws://${(globalThis as unknown as { location: { host: string } }).location.host}/chat`, { delivery: true, maxBuffered: perClient, backoff: { initialMs: 100, maxMs: 1000, hintFloorMs: 200, hintCeilingMs: 1000 }, healthyAfterMs: 1000 })
          const user = { client, closes: [] as string[], texts: [] as string[], k: 0 }
          client.on('close', ({ code, reason }: { code: number, reason: string }) => user.closes.push(`${code} ${reason}`))
          const timer = setInterval(() => {
            if (user.k >= perClient) { clearInterval(timer); return }
            if (user.k >= (globalThis as unknown as { allowed: number }).allowed) return
            const text = `b${i}-${user.k++}`
            if (client.send(text)) user.texts.push(text)
          }, everyMs)
          return user
        })
      }, { clients: BROWSER_CLIENTS, perClient: PER_CLIENT, everyMs: SEND_EVERY_MS })
    } else {
      t.comment(`browser clients skipped: ${browserSkip}`)
    }
    await until(() => users.every((u) => u.client.state === 'open'), 10_000)

    let step = 0
    const release = async (): Promise<void> => {
      allowed = Math.round(PER_CLIENT * ++step / STEPS)
      await page?.evaluate((n) => { (globalThis as unknown as { allowed: number }).allowed = n }, allowed)
    }
    const steps: string[] = []
    // The one repeat docs/client.md allows: a kill -9 after the handler's effect (its D line) and before its window
    // write. That message's claim still stands, so no instance can raise its session's mark for claimTtlMs: read
    // right after the kill, a mark below the killed instance's last D line names exactly that message.
    const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
    await redis.connect()
    t.teardown(() => redis.quit())
    const crashGap = new Set<string>()
    const effectsWithoutWrite = async (pid: number): Promise<void> => {
      // The window's mark is per session and incarnation (lib/delivery: `session~incarnation`).
      const last = new Map<string, { session: string, seq: number }>()
      for (const h of handled) {
        if (h.pid !== pid) continue
        const key = h.incarnation === '-' ? h.session : `${h.session}~${h.incarnation}`
        last.set(key, { session: h.session, seq: Math.max(h.seq, last.get(key)?.seq ?? 0) })
      }
      const marks = await Promise.all([...last.keys()].map(async (key) => Number(await redis.get(prefix + key) ?? 0)))
      let i = 0
      for (const { session, seq } of last.values()) if (marks[i++] < seq) crashGap.add(`${session} ${seq}`)
    }
    const restart = async (name: 'a' | 'b', signal: NodeJS.Signals): Promise<void> => {
      await release()
      await sleep(300) // messages in flight when the instance goes
      const t0 = Date.now()
      const pid = instances[name].child.pid ?? 0
      const code = await instances[name].stop(signal)
      const t1 = Date.now()
      if (signal === 'SIGKILL') await effectsWithoutWrite(pid)
      if (signal === 'SIGTERM') t.equal(code, 0, `${name} drained and exited on SIGTERM`)
      instances[name] = await startInstance(t, name, name === 'a' ? pa : pb, prefix)
      const t2 = Date.now()
      await ready(name === 'a' ? pa : pb)
      steps.push(`${name} ${signal}: stop ${t1 - t0} ms, listen ${t2 - t1} ms, ready ${Date.now() - t2} ms`)
      await sleep(250) // HAProxy's check sees it up again
    }
    const started = Date.now()
    await release()
    await sleep(1000)
    await restart('a', 'SIGTERM') // restart 1: drain (1012), then a cold start (accept-then-close for direct users)
    await release()
    await sleep(300)
    instances.b.child.kill('SIGUSR2') // b loses its dependency: closeOnLoss (1013 dependency lost)
    await sleep(300)
    instances.b.child.kill('SIGUSR2')
    await ready(pb)
    await restart('b', 'SIGTERM') // restart 2
    await restart('a', 'SIGKILL') // the crash
    await restart('a', 'SIGTERM') // restart 3
    await restart('b', 'SIGTERM') // restart 4
    await restart('a', 'SIGTERM') // restart 5
    await release()
    t.equal(step, STEPS, 'every ninth released')
    t.comment(`fault schedule took ${Date.now() - started} ms: ${steps.join('; ')}`)

    const browserState = async () => page === null
      ? []
      : await page.evaluate(() => (globalThis as unknown as { users: Array<{ client: { sessionId: string, buffered: number }, closes: string[], texts: string[], k: number }> }).users
        .map((u) => ({ session: u.client.sessionId, buffered: u.client.buffered, closes: u.closes, texts: u.texts, k: u.k })))
    const settled = Date.now() + 45_000
    while (!(users.every((u) => u.done() && u.client.buffered === 0) && (await browserState()).every((b) => b.k >= PER_CLIENT && b.buffered === 0))) {
      if (Date.now() > settled) break
      await sleep(50)
    }
    await sleep(200)

    const expected = new Map<string, string[]>()
    for (const u of users) expected.set(u.client.sessionId as string, u.texts)
    const browsers = await browserState()
    for (const b of browsers) expected.set(b.session, b.texts)
    let sent = 0
    for (const texts of expected.values()) sent += texts.length
    t.equal(sent, page === null ? NODE_CLIENTS * PER_CLIENT : TOTAL, 'every message was accepted by its client')

    const seen = new Map<string, number>()
    let lost = 0
    let duplicated = 0
    let repeatedAfterCrash = 0
    let wrong = 0
    for (const h of handled) {
      const key = `${h.session} ${h.seq}`
      seen.set(key, (seen.get(key) ?? 0) + 1)
      if (expected.get(h.session)?.[h.seq - 1] !== h.text) wrong++
    }
    for (const [session, texts] of expected) {
      for (let seq = 1; seq <= texts.length; seq++) {
        const n = seen.get(`${session} ${seq}`) ?? 0
        if (n === 0) lost++
        // The cut message may run once more, never twice more.
        if (n > 1 && crashGap.has(`${session} ${seq}`)) { repeatedAfterCrash++; duplicated += n - 2 } else if (n > 1) duplicated += n - 1
      }
    }
    const closes = users.flatMap((u) => u.closes).concat(browsers.flatMap((b) => b.closes))
    const byInstance = handled.reduce<Record<string, number>>((acc, h) => { acc[h.instance] = (acc[h.instance] ?? 0) + 1; return acc }, {})
    t.comment(`sent ${sent}, handled ${handled.length} (${JSON.stringify(byInstance)}), lost ${lost}, duplicated ${duplicated}, run again after the kill -9 cut between effect and window write ${repeatedAfterCrash} of ${crashGap.size}, waited for a handler in progress ${waited}, closes: ${summarizeCloses(closes)}`)
    t.equal(lost, 0, '0 lost')
    t.equal(duplicated, 0, '0 duplicated')
    t.equal(wrong, 0, 'every handled message carried its own text')
    t.ok(closes.some((c) => c.startsWith('1013 not admitted')), 'the gate\'s accept-then-close was met')
    t.ok(closes.some((c) => c.startsWith('1013 dependency lost')), 'closeOnLoss was met')
    t.ok(closes.some((c) => c.startsWith('1012')), 'the drain was met')
    t.ok(closes.some((c) => c.startsWith('1006')), 'the crash was met')
    if (page !== null) t.ok(browsers.every((b) => b.closes.length > 0), 'the browser clients went through the faults too')
  })
