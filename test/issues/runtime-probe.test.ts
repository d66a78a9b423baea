import t from 'tap'
import WebSocket from 'ws'
import { buildApp } from '../helpers/app.js'
import { closed, connect, getJson, listen, sleep, until } from '../helpers/net.js'

t.test('a healthy probe added at runtime does not un-ready a ready app, nor close closeOnLoss sockets', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => {} } })
  app.get('/ws', { websocket: true, readiness: { closeOnLoss: true } }, () => {})
  const { ws, http } = await listen(app)
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  const sockets: WebSocket[] = []
  for (let i = 0; i < 10; i++) {
    const outcome = await connect(`${ws}/ws`)
    if (outcome.kind !== 'open') throw new Error('not open')
    sockets.push(outcome.ws)
  }
  const flips: string[] = []
  app.readiness.on('notReady', (reason) => flips.push(reason))
  let firstRun = 0
  // A first run that lasts until the test has asked: the window in which the old code said "not ready".
  let finishFirstRun = (): void => {}
  const firstRunDone = new Promise<void>((resolve) => { finishFirstRun = resolve })
  app.readiness.addProbe('search', async () => { if (firstRun++ === 0) await firstRunDone })
  t.ok(app.readiness.isReady(), 'still ready right after adding it')
  t.equal((await getJson(`${http}/health/ready`)).status, 200, '/health/ready stays 200 before its first result')
  t.equal(app.readiness.status().probes.search?.status, 'unknown', 'asked while its first run was still under way')
  finishFirstRun()
  await until(() => app.readiness.status().probes.search?.status === 'pass')
  t.same(flips, [], 'readiness never flipped')
  t.ok(sockets.every((s) => s.readyState === WebSocket.OPEN), 'all 10 closeOnLoss sockets stay open')
  for (const s of sockets) s.close()
})

t.test('a probe added at runtime that fails does un-ready the app, from its first failure', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => {} } })
  app.get('/ws', { websocket: true, readiness: { closeOnLoss: true } }, () => {})
  const { ws } = await listen(app)
  await app.readiness.waitFor(undefined, { timeoutMs: 5000 })
  const outcome = await connect(`${ws}/ws`)
  if (outcome.kind !== 'open') throw new Error('not open')
  const ended = closed(outcome.ws)
  app.readiness.addProbe('search', async () => { await sleep(50); throw new Error('down') })
  t.ok(app.readiness.isReady(), 'ready until it has actually failed')
  await until(() => !app.readiness.isReady())
  t.same(app.readiness.missing(), ['search'])
  t.equal((await ended).code, 1013, 'then closeOnLoss applies')
})

t.test('removing a failing probe at runtime makes the app ready again and stops its polling', async (t) => {
  let calls = 0
  let dbRuns = 0
  const app = await buildApp(t, { probes: { db: { check: async () => { dbRuns++ }, intervalMs: 20 }, flaky: { check: async () => { calls++; throw new Error('down') }, intervalMs: 20 } } })
  await listen(app)
  await until(() => app.readiness.status().probes.flaky?.status === 'fail')
  t.notOk(app.readiness.isReady())
  t.equal(await app.readiness.removeProbe('flaky'), true)
  t.ok(app.readiness.isReady(), 'ready without it')
  const after = calls
  // While the other probe, on the same 20 ms interval, runs three more times.
  const dbBefore = dbRuns
  await until(() => dbRuns >= dbBefore + 3, 10_000)
  t.equal(calls, after, 'no longer polled')
  t.equal(await app.readiness.removeProbe('flaky'), false, 'removing twice says false')
  t.same(app.readiness.probeNames(), ['db'])
})
