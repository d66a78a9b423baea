import t from 'tap'
import { buildApp } from '../helpers/app.js'
import { closed, connect, listen, rawUpgrade, sleep, until, type WsOutcome } from '../helpers/net.js'

/**
 * Issue 15 (the gate's part): upgrades admitted before the drain that finish
 * an async route hook after it began were closed with 1005, and with silent
 * peers close() took 31 s against drainTimeout 1000.
 */
t.test('upgrades still in an async route hook when the drain starts never open silently, and close() stays bounded', async (t) => {
  const app = await buildApp(t, { websocket: { drainTimeoutMs: 1000, drainSpreadMs: 200 } })
  app.get('/ws', {
    websocket: true,
    // An auth or rate-limit hook that takes a while.
    preValidation: async () => { await sleep(300) }
  }, (socket) => { socket.on('message', (d) => socket.send(d.toString())) })
  const { ws, port } = await listen(app)
  await until(() => app.readiness.isReady())
  const open = await Promise.all(Array.from({ length: 20 }, () => connect(`${ws}/ws`)))
  const openEnds = open.map((o) => o.kind === 'open' ? closed(o.ws) : Promise.resolve({ code: -2, reason: '' }))
  // In their 300 ms hook when the drain begins: 20 real clients and 10 silent raw peers.
  const inHook: Array<Promise<WsOutcome>> = Array.from({ length: 20 }, () => connect(`${ws}/ws`, { handshakeTimeout: 5000 }))
  const silent = await Promise.all(Array.from({ length: 10 }, () => rawUpgrade(port, '/ws')))
  await sleep(100)
  const started = Date.now()
  await app.close()
  const took = Date.now() - started
  t.ok(took < 1200 + 200 + 1500, `close() took ${took} ms (spread 200 + drainTimeout 1000 + slack)`)
  t.same([...new Set((await Promise.all(openEnds)).map((e) => e.code))], [1012], 'open sockets: 1012')
  for (const o of await Promise.all(inHook)) {
    if (o.kind === 'open') {
      const end = await closed(o.ws)
      t.equal(end.code, 1012, 'opened during the drain: 1012, never 1005')
    } else {
      t.match(o, { kind: 'refused', status: 503 }, 'or refused with 503 before any handler ran')
    }
  }
  await Promise.all(silent.map((p) => p.ended))
  t.pass('every silent peer was let go')
})

t.test('closes are spread over drainSpread (no reconnect herd), or sent at once with drainSpread 0', async (t) => {
  for (const spread of [600, 0]) {
    await t.test(`drainSpread ${spread}`, async (t) => {
      const app = await buildApp(t, { websocket: { drainSpreadMs: spread } })
      app.get('/ws', { websocket: true }, () => {})
      const { ws } = await listen(app)
      await until(() => app.readiness.isReady())
      const open = await Promise.all(Array.from({ length: 300 }, () => connect(`${ws}/ws`)))
      const at: number[] = []
      const ends = Promise.all(open.map((o) => o.kind === 'open' ? new Promise<void>((resolve) => o.ws.once('close', (code) => { if (code === 1012) at.push(Date.now()); resolve() })) : Promise.resolve()))
      await app.close()
      await ends
      t.equal(at.length, 300, 'every socket got 1012')
      const window = Math.max(...at) - Math.min(...at)
      if (spread > 0) t.ok(window >= 200, `closes spread over ${window} ms`)
      else t.ok(window < 300, `closes sent together (${window} ms)`)
    })
  }
})
