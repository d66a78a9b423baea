import t from 'tap'
import WebSocket from 'ws'
import { withDelivery, DeliveryFrameError } from '../../index.js'
import { ackFrame, messageFrame } from '../../lib/client/frames.js'
import { buildApp } from '../helpers/app.js'
import { listen, until } from '../helpers/net.js'

/**
 * Issue 17 (trial: malformed numbered frames). `\u001Em <session> <seq> ...`
 * with a seq of -1, NaN, 2^53, 01 or a session over 64 characters reached the
 * app's handler as raw "\u001Em ..." text with ctx null. No client of ours
 * sends them: the helper now handles none of it, tells onError (a
 * DeliveryFrameError, ctx null) and closes 1008 (RFC 6455: policy violation;
 * final for the client). A lower seq after a higher one is a duplicate: acked
 * again and dropped (the client never sends out of order).
 */

const malformed = [
  '\u001Em sessionMALFORMED -1 neg',
  '\u001Em sessionMALFORMED NaN nan',
  `\u001Em sessionMALFORMED ${2 ** 53} big`,
  '\u001Em sessionMALFORMED 01 lead0',
  '\u001Em sessionMALFORMED 1e3 exp',
  `\u001Em ${'x'.repeat(65)} 1 longsession`,
  '\u001Em short 1 shortsession',
  '\u001Em sessionMALFORMED 1',
  '\u001Em  1 empty-session'
]

t.test('each malformed numbered frame: nothing reaches the handler, onError hears it, the socket closes 1008', async (t) => {
  const app = await buildApp(t, {})
  const handled: string[] = []
  const errors: Array<{ error: unknown, ctx: unknown }> = []
  app.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, (data) => { handled.push(String(data)) }, { onError: (error, ctx) => errors.push({ error, ctx }) })
  })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  for (const frame of malformed) {
    const client = new WebSocket(`${ws}/chat`)
    await new Promise((resolve) => client.once('open', resolve))
    const acks: string[] = []
    client.on('message', (d) => acks.push(d.toString()))
    const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)))
    client.send(frame)
    client.send('after it') // nothing after the violation is handled either
    const code = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 1000))])
    client.terminate()
    t.equal(code, 1008, `${JSON.stringify(frame.slice(0, 40))}: closed 1008`)
    t.same(acks, [], 'not acked')
  }
  t.same(handled, [], 'the handler never saw a malformed frame (nor what followed it)')
  t.equal(errors.length, malformed.length, 'onError heard each')
  t.ok(errors.every((e) => e.error instanceof DeliveryFrameError && e.ctx === null))
})

t.test('a lower seq after a higher one is acked again and dropped', async (t) => {
  const app = await buildApp(t, {})
  const handled: string[] = []
  app.get('/chat', { websocket: true }, (socket) => { withDelivery(socket, (data) => { handled.push(String(data)) }) })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const client = new WebSocket(`${ws}/chat`)
  t.teardown(() => client.terminate())
  await new Promise((resolve) => client.once('open', resolve))
  const acks: string[] = []
  client.on('message', (d) => acks.push(d.toString()))
  for (const seq of [5, 3, 6]) client.send(messageFrame('sessionORDER', seq, `m${seq}`))
  await until(() => acks.length === 3)
  t.same(handled, ['m5', 'm6'], 'm3 dropped as a duplicate')
  t.same(acks, [5, 3, 6].map((seq) => ackFrame('sessionORDER', seq)))
})
