import t, { type Test } from 'tap'
import type { Redis } from 'ioredis'
import { redisOutbox, redisDedupe, type DeliverySession } from '../../lib/delivery/index.js'
import { lateSendClient, lateSendInstance, redisFor } from '../helpers/late-send.js'
import { tcpProxy, until } from '../helpers/net.js'

/**
 * Issue 26 (delivery), a late send on another instance that never sends again: a handler on instance A kept
 * streaming after its socket was cut; the client had resumed on B (shared Redis outbox) and just waited for
 * the rest of the reply. A's late replies sat in the outbox: B filled a jump only ahead of its own next
 * `session.send`, and B sent nothing, so the stream looked stuck until the client reconnected. Now B, on each
 * of the client's live-peer pings, reads the outbox's last number (one call) and, when it is above what this
 * socket sent, reads the missing ones back and sends them in order: within one client heartbeat.
 */

const HEARTBEAT_MS = 100

/**
 * The client streams from A, the network breaks, it resumes on B (B's re-sent `stream` waits for A's running
 * handler, then is a duplicate: B's handler never runs, so B never sends), then A's handler sends its late
 * replies into the shared outbox. The client waits for `expected` messages.
 */
async function idleLateSend (t: Test, n: number, expected: number, maxMessages?: number, evalOnly = false): Promise<{ got: string[], gaps: Array<{ from: number, to: number | null }>, opens: number, b: DeliverySession[] }> {
  const prefix = `fastify-readiness:test:late-idle:${process.pid}:${Date.now()}:`
  const [redisA, redisB] = [await redisFor(t, prefix), await redisFor(t, prefix)]
  let goLate = (): void => {}
  const late = new Promise<void>((resolve) => { goLate = resolve })
  const a = await lateSendInstance(t, 'A', redisDedupe(redisA, { prefix }), redisOutbox(redisA, { prefix, maxMessages }), late, n)
  // evalOnly: B's outbox is given a client with nothing but eval (all redisOutbox requires), so `last` runs a script.
  const outboxB = redisOutbox(evalOnly ? { eval: redisB.eval.bind(redisB) } as unknown as Redis : redisB, { prefix, maxMessages })
  const b = await lateSendInstance(t, 'B', redisDedupe(redisB, { prefix }), outboxB, late, n)
  let target = a.port
  const proxy = await tcpProxy(t, () => target)
  const { client, got, gaps, opens } = await lateSendClient(t, `ws://127.0.0.1:${proxy.port}/chat`, { heartbeatMs: HEARTBEAT_MS, heartbeatTimeoutMs: 5000 })
  target = b.port
  proxy.cut()
  await until(() => b.sessions.some((s) => s.waited > 0), 10_000)
  goLate()
  // A's handler has put everything in the shared outbox; B has sent nothing since the hello.
  const counter = `${prefix}${String(client.sessionId)}~${String(client.incarnation)}!out#`
  for (;;) { if (Number(await redisA.get(counter)) === n) break; await new Promise((resolve) => setTimeout(resolve, 10)) }
  // B acks the re-sent `stream` as A's (handled there): its handler does not run.
  await until(() => b.sessions.some((s) => s.duplicates > 0), 10_000)
  await until(() => got.length + gaps.length >= expected, 10_000)
  return { got, gaps, opens: opens(), b: b.sessions }
}

t.test('redis outbox: A\'s late replies reach the client idle on B at its next ping, in order, no gap', async (t) => {
  const { got, gaps, opens, b } = await idleLateSend(t, 6, 6)
  t.equal(opens, 2, 'the client moved once, to B')
  t.same(got, ['A:r1', 'A:r2', 'A:r3', 'A:r4', 'A:r5', 'A:r6'], 'every late reply once, in order')
  t.same(gaps, [], 'no resumeFailed for replies the outbox holds')
  t.ok(b.every((s) => s.handled === 0), 'B\'s handler never ran: B sent nothing of its own')
})

t.test('redis outbox, late replies beyond its bound: the idle instance announces the lost ones exactly', async (t) => {
  // maxMessages 5: r1..r12 are #1..#12, the stream keeps #8..#12.
  const { got, gaps, b } = await idleLateSend(t, 12, 6, 5)
  t.same(gaps, [{ from: 2, to: 7 }], 'resumeFailed names exactly the numbers the outbox no longer holds')
  t.same(got, ['A:r1', 'A:r8', 'A:r9', 'A:r10', 'A:r11', 'A:r12'], 'the kept ones arrive in order')
  t.ok(b.every((s) => s.handled === 0), 'B\'s handler never ran')
})

t.test('redis outbox on a client with only eval: the idle instance catches up the same way', async (t) => {
  const { got, gaps } = await idleLateSend(t, 4, 4, undefined, true)
  t.same(got, ['A:r1', 'A:r2', 'A:r3', 'A:r4'], 'every late reply once, in order')
  t.same(gaps, [], 'no resumeFailed')
})
