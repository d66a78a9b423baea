import t from 'tap'
import WebSocket from 'ws'
import { withDelivery, type DeliveryContext } from '../../index.js'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { buildApp } from '../helpers/app.js'
import { listen, until } from '../helpers/net.js'

/**
 * Issue 17 (trial: "withDelivery corrupts binary frames"). A binary frame
 * reached the handler as `item.toString()`, a lossy UTF-8 decode: the bytes
 * 00 ff fe 80 c3 28 41 came back as 00 efbfbd efbfbd efbfbd efbfbd 28 41. The
 * helper's own doc says frames without a number pass through untouched: a
 * binary frame now reaches the handler as the Buffer it arrived as (ctx null),
 * a text frame as a string.
 */

const WS = WebSocket as unknown as WebSocketConstructor

t.test('binary frames reach the handler as the exact bytes, next to numbered text from a delivery client', async (t) => {
  const app = await buildApp(t, {})
  const got: Array<{ data: string | Buffer, ctx: DeliveryContext | null }> = []
  app.get('/chat', { websocket: true }, (socket) => {
    withDelivery(socket, (data, ctx) => { got.push({ data, ctx }) })
  })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0x41])

  const plain = new ReadinessClient(`${ws}/chat`, { WebSocket: WS }) // no delivery: binary allowed
  t.teardown(() => plain.close())
  plain.send(new Uint8Array(bytes))
  plain.send('text, not numbered')
  await until(() => got.length === 2)

  const numbered = new ReadinessClient(`${ws}/chat`, { WebSocket: WS, delivery: true })
  t.teardown(() => numbered.close())
  numbered.send('numbered')
  await until(() => got.length === 3 && numbered.buffered === 0)

  t.ok(Buffer.isBuffer(got[0].data), 'the binary frame is a Buffer')
  t.equal((got[0].data as Buffer).toString('hex'), bytes.toString('hex'), 'byte for byte')
  t.equal(got[0].ctx, null)
  t.equal(got[1].data, 'text, not numbered', 'a text frame is a string')
  t.equal(got[1].ctx, null)
  t.equal(got[2].data, 'numbered')
  t.same(got[2].ctx, { session: numbered.sessionId, seq: 1, incarnation: numbered.incarnation })
})

t.test('a binary frame that looks like a numbered message is not parsed: it passes through untouched', async (t) => {
  const app = await buildApp(t, {})
  const got: Array<{ data: string | Buffer, ctx: DeliveryContext | null }> = []
  app.get('/chat', { websocket: true }, (socket) => { withDelivery(socket, (data, ctx) => { got.push({ data, ctx }) }) })
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const client = new WebSocket(`${ws}/chat`)
  t.teardown(() => client.terminate())
  await new Promise((resolve) => client.once('open', resolve))
  const frame = Buffer.from('\u001Em sessionBINARY 1 hi')
  client.send(frame, { binary: true })
  await until(() => got.length === 1)
  t.ok(Buffer.isBuffer(got[0].data))
  t.ok((got[0].data as Buffer).equals(frame))
  t.equal(got[0].ctx, null)
})
