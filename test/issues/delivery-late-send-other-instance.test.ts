import t, { type Test } from 'tap'
import { redisOutbox, redisDedupe } from '../../lib/delivery/index.js'
import { lateSendClient, lateSendInstance, redisFor } from '../helpers/late-send.js'
import { tcpProxy, until } from '../helpers/net.js'

/**
 * Issue 26 (delivery), "never a silent gap", and no gap for replies the outbox still holds: a handler on
 * instance A kept streaming after its socket was cut; the client had resumed on B (shared Redis outbox). A's
 * late replies went into the outbox, B's next `session.send` took the next number, the client saw a jump and
 * emitted `resumeFailed` for replies that were in the outbox, and its ack then deleted them: lost. Now B, on
 * a number above the last one it sent + 1, reads the missing ones back from the outbox and sends them first;
 * what the outbox no longer holds (its bounds) is announced as a gap.
 */

/**
 * The scenario: the client streams from A, the network breaks, it resumes on B (its hello replayed nothing
 * yet: the re-sent `stream` waits there for A's running handler), then A's handler sends its late replies
 * into the shared outbox, then the client asks B for `next`.
 */
async function lateSend (t: Test, n: number, maxMessages?: number): Promise<{ got: string[], gaps: Array<{ from: number, to: number | null }>, opens: number }> {
  const prefix = `fastify-readiness:test:late-send:${process.pid}:${Date.now()}:`
  // Each instance its own connection, window and outbox, as two processes have: only Redis is shared.
  const [redisA, redisB] = [await redisFor(t, prefix), await redisFor(t, prefix)]
  let goLate = (): void => {}
  const late = new Promise<void>((resolve) => { goLate = resolve })
  const a = await lateSendInstance(t, 'A', redisDedupe(redisA, { prefix }), redisOutbox(redisA, { prefix, maxMessages }), late, n)
  const b = await lateSendInstance(t, 'B', redisDedupe(redisB, { prefix }), redisOutbox(redisB, { prefix, maxMessages }), late, n)
  const redis = redisA
  let target = a.port
  const proxy = await tcpProxy(t, () => target)
  const { client, got, gaps, opens } = await lateSendClient(t, `ws://127.0.0.1:${proxy.port}/chat`, true)
  target = b.port
  proxy.cut() // a network break; the client comes back on B
  // B took the hello (its resume asked first, on B's connection) and then found A's claim on the re-sent `stream`.
  await until(() => b.sessions.some((s) => s.waited > 0), 10_000)
  goLate()
  // A's handler has sent everything into the shared outbox (its socket is gone): r1..rn numbered 1..n.
  const counter = `${prefix}${String(client.sessionId)}~${String(client.incarnation)}!out#`
  for (;;) { if (Number(await redis.get(counter)) === n) break; await new Promise((resolve) => setTimeout(resolve, 10)) }
  client.send('next')
  await until(() => got.includes('B:next'), 10_000)
  return { got, gaps, opens: opens() }
}

t.test('redis outbox, two instances: A\'s late replies reach the client on B ahead of B\'s next send, no gap', async (t) => {
  const { got, gaps, opens } = await lateSend(t, 5)
  t.equal(opens, 2, 'the client moved once, to B')
  t.same(got, ['A:r1', 'A:r2', 'A:r3', 'A:r4', 'A:r5', 'B:next'], 'every reply once, in order: nothing the outbox held is skipped')
  t.same(gaps, [], 'no resumeFailed for replies the outbox still holds')
})

t.test('redis outbox, late replies beyond its bound: the lost ones are announced exactly, the kept ones delivered', async (t) => {
  // maxMessages 5: r1..r12 are #1..#12; B:next's append (#13) trims the stream to #9..#13.
  const { got, gaps } = await lateSend(t, 12, 5)
  t.same(gaps, [{ from: 2, to: 8 }], 'resumeFailed names exactly the numbers the outbox no longer holds')
  t.same(got, ['A:r1', 'A:r9', 'A:r10', 'A:r11', 'A:r12', 'B:next'], 'the kept ones arrive in order, then B\'s')
})
