import t from 'tap'
import WebSocket from 'ws'
import { ReadinessClient, type WebSocketConstructor } from '../lib/client/index.js'
import { buildApp, Switch } from './helpers/app.js'
import { sleep, until } from './helpers/net.js'
import { freePort } from './helpers/servers.js'

// The message defects of issue 17, each against the real gate.
const WS = WebSocket as unknown as WebSocketConstructor

t.test('message defect "accept-then-close: a message sent from the open handler is lost": it is re-sent, once', async (t) => {
  const port = await freePort()
  const received: string[] = []
  const app = await buildApp(t, { phases: { warmup: () => sleep(700) }, websocket: { mode: 'accept-then-close' } })
  app.get('/chat', { websocket: true }, (socket) => { socket.on('message', (d) => received.push(d.toString())) })
  await app.listen({ port, host: '127.0.0.1' })
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WS, backoff: { initialMs: 50, hintFloorMs: 100 } })
  t.teardown(() => client.close())
  const closes: string[] = []
  client.on('close', (c) => closes.push(`${c.code} ${c.reason}`))
  let n = 0
  // Sent straight onto the socket (buffer empty), before the gate's 1013 arrives.
  client.on('open', () => { client.send(`from open ${n++}`) })
  await until(() => received.length >= 1, 10_000)
  await sleep(300)
  t.ok(closes.some((c) => c.startsWith('1013 not admitted')), `the gate refused first: ${closes.join(' | ')}`)
  t.ok(n >= 2, 'the open handler ran on the refused socket and on the admitted one')
  // Each refused socket's message went back to the buffer and out on the next socket, ahead of that socket's own.
  t.same(received, Array.from({ length: n }, (_, i) => `from open ${i}`), 'every message arrived, in order, exactly once')
})

t.test('message defect "closeOnLoss 1013 is treated as never handled": m1-m5 arrive once', async (t) => {
  const port = await freePort()
  const dependency = new Switch(true)
  const received: string[] = []
  const app = await buildApp(t, { probes: { dep: { check: dependency.check, intervalMs: 20, startIntervalMs: 5 } }, websocket: { mode: 'reject' } })
  app.get('/chat', { websocket: true, readiness: { closeOnLoss: true } }, (socket) => {
    socket.on('message', (d) => { received.push(d.toString()); socket.send('ok') })
  })
  await app.listen({ port, host: '127.0.0.1' })
  await until(() => app.readiness.isReady())
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WS, backoff: { initialMs: 50, hintFloorMs: 100, hintCeilingMs: 200 } })
  t.teardown(() => client.close())
  const closes: string[] = []
  client.on('close', (c) => closes.push(`${c.code} ${c.reason}`))
  await until(() => client.state === 'open')
  for (let i = 1; i <= 5; i++) client.send(`m${i}`)
  await until(() => received.length === 5)
  dependency.up = false
  await until(() => closes.length > 0)
  t.match(closes[0], /^1013 dependency lost/)
  dependency.up = true
  await until(() => client.state === 'open', 10_000)
  client.send('after')
  await until(() => received.includes('after'), 10_000)
  t.same(received, ['m1', 'm2', 'm3', 'm4', 'm5', 'after'], 'handled messages are not re-sent after a close that says the handler ran')
})

t.test('message defect "a message on an open socket that then breaks is not re-sent": with delivery it is, and once', async (t) => {
  const { withDelivery, memoryDedupe } = await import('../lib/delivery/index.js')
  const port = await freePort()
  const store = memoryDedupe() // shared by both instances: same process
  const handled: string[] = []
  const serve = async () => {
    const app = await buildApp(t, { websocket: { mode: 'reject' } })
    app.get('/chat', { websocket: true }, (socket) => {
      // A slow handler: the drain lands while messages are queued behind it.
      withDelivery(socket, async (text) => { await sleep(20); handled.push(String(text)) }, { store })
    })
    await app.listen({ port, host: '127.0.0.1' })
    await until(() => app.readiness.isReady())
    return app
  }
  const first = await serve()
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, { WebSocket: WS, delivery: true, backoff: { initialMs: 50 } })
  t.teardown(() => client.close())
  await until(() => client.state === 'open')
  const texts = Array.from({ length: 30 }, (_, i) => `m${i}`)
  for (const text of texts) client.send(text)
  await until(() => handled.length >= 3)
  await first.close() // the drain: 1012 while most messages are unacknowledged
  t.ok(handled.length < texts.length, `the drain broke the socket mid-stream (${handled.length} handled)`)
  await serve()
  await until(() => client.buffered === 0, 15_000)
  t.same(handled, texts, 'every message handled once, in order, across the restart')
})
