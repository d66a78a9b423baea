import t, { type Test } from 'tap'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { until } from '../helpers/net.js'
import { startLineProcess } from '../helpers/processes.js'
import { freePort } from '../helpers/servers.js'
import { bundleFixture } from '../fixtures/delivery-bundle.js'

/**
 * Issue 26 (delivery): "the memory window duplicates across graceful restarts". One instance, 8 clients x
 * 300 messages, async handlers of 0-60 ms, two SIGTERM + restart rounds: 2,400 sent, 0 lost, 17
 * duplicated. A handler still running when the 1012 went out finished while its socket was closing, so
 * its ack was never sent and the client re-sent the message to the new process, whose window is empty.
 * Now the drain asks withDelivery first (lib/common/before-close.ts): it stops taking frames, lets the
 * running handler finish, sends its ack, and only then is the close frame sent.
 */

const WS = WebSocket as unknown as WebSocketConstructor
const FIXTURE = fileURLToPath(new URL('../fixtures/delivery-restart-server.ts', import.meta.url))
const CLIENTS = 8
const PER_CLIENT = 300
const ROUNDS = 3 // sending released in thirds: before the first SIGTERM, before the second, after it

interface Child { child: ChildProcess, exited: Promise<number | null>, runningAtTerm: () => number | null }

/** Every (incarnation, seq, text) any process handled, from its stdout (read to the end: 'close'). */
const handled: Array<{ incarnation: string, seq: number, text: string }> = []

async function start (t: Test, server: string, port: number): Promise<Child> {
  let runningAtTerm: number | null = null
  const { child, exited } = await startLineProcess(t, server, { PORT: String(port), STORE: 'memory' }, (line) => {
    const [kind, , incarnation, seq, ...text] = line.split(' ')
    if (kind === 'D') handled.push({ incarnation, seq: Number(seq), text: text.join(' ') })
    if (kind === 'T') runningAtTerm = Number(line.split(' ')[1])
  }, { listenTimeoutMs: 60_000 })
  return { child, exited, runningAtTerm: () => runningAtTerm }
}

t.test('memory window, two SIGTERM + restart rounds with handlers in flight: 0 lost, 0 duplicated, counted at both ends', async (t) => {
  const port = await freePort()
  const server = await bundleFixture(t, FIXTURE)
  let instance = await start(t, server, port)
  const clients = Array.from({ length: CLIENTS }, (_, i) => {
    const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WS, delivery: { sessionId: `restartClient${i}` }, maxBuffered: PER_CLIENT, backoff: { initialMs: 50, maxMs: 300 } })
    t.teardown(() => client.close())
    const seen = { client, acked: 0, closes: [] as number[], dropped: 0 }
    client.on('acked', (seq) => { seen.acked = seq })
    client.on('close', (c) => seen.closes.push(c.code))
    client.on('dropped', () => { seen.dropped++ })
    return seen
  })
  const sentUpTo = (round: number): number => Math.round(PER_CLIENT * round / ROUNDS)
  const inFlightAtTerm: number[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [i, c] of clients.entries()) for (let k = sentUpTo(round - 1) + 1; k <= sentUpTo(round); k++) c.client.send(`c${i}-${k}`)
    if (round === ROUNDS) break
    // Handlers are running on every socket (each has ~100 queued at up to 60 ms each): drain now.
    const before = handled.length
    await until(() => handled.length >= before + CLIENTS * 2, 30_000)
    instance.child.kill('SIGTERM')
    await instance.exited
    inFlightAtTerm.push(instance.runningAtTerm() ?? -1)
    instance = await start(t, server, port)
  }
  await until(() => clients.every((c) => c.acked === PER_CLIENT), 60_000)
  instance.child.kill('SIGTERM')
  await instance.exited

  const counts = new Map<string, number>()
  for (const h of handled) counts.set(h.text, (counts.get(h.text) ?? 0) + 1)
  const lost: string[] = []
  const duplicated: string[] = []
  for (let i = 0; i < CLIENTS; i++) {
    for (let k = 1; k <= PER_CLIENT; k++) {
      const n = counts.get(`c${i}-${k}`) ?? 0
      if (n === 0) lost.push(`c${i}-${k}`)
      if (n > 1) duplicated.push(`c${i}-${k} x${n}`)
    }
  }
  t.comment(`sent ${CLIENTS * PER_CLIENT}, handled ${handled.length}; handlers running at each SIGTERM: ${inFlightAtTerm.join(', ')}`)
  t.ok(inFlightAtTerm.every((n) => n >= 1), 'each drain met a handler in flight')
  t.ok(clients.every((c) => c.closes.includes(1012)), 'every client saw a 1012')
  t.equal(clients.reduce((n, c) => n + c.dropped, 0), 0, 'nothing dropped')
  t.ok(clients.every((c) => c.acked === PER_CLIENT && c.client.buffered === 0), 'client end: every message acked')
  t.same(lost, [], 'server end: 0 lost')
  t.same(duplicated, [], 'server end: 0 duplicated')
  for (let i = 0; i < CLIENTS; i++) {
    const mine = handled.filter((h) => h.text.startsWith(`c${i}-`)).map((h) => Number(h.text.split('-')[1]))
    if (mine.some((k, j) => j > 0 && k <= mine[j - 1])) t.fail(`client ${i} handled out of order`)
  }
})
