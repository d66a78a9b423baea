import t, { type Test } from 'tap'
import type { GateMode } from '../index.js'
import { buildApp, Switch } from './helpers/app.js'
import { connect, listen, nextMessage, sleep, until } from './helpers/net.js'
import { stormClient, type ClientReport } from './helpers/storm.js'

const CLIENTS = 300

/**
 * The incident, reproduced: a handler that needs its dependency and closes
 * with 1011 when it is not there. With the gate, the handler must never run
 * before readiness, so 1011 must never happen.
 */
async function coldStartStorm (t: Test, mode: GateMode) {
  const db = new Switch(false)
  let warmed = false
  let handlerRunsBeforeReady = 0
  let handler1011 = 0
  let echoed = 0
  const app = await buildApp(t, {
    probes: { db: { check: db.check, startIntervalMs: 10 } },
    phases: {
      dependencies: { probes: ['db'] },
      websocket: { after: ['dependencies'], run: async () => { await sleep(150); warmed = true } }
    },
    websocket: { mode, holdTimeoutMs: 5000, maxHeld: CLIENTS }
  })
  app.get('/ws', { websocket: true }, (socket) => {
    if (!app.readiness.isReady()) handlerRunsBeforeReady++
    if (!db.up || !warmed) { handler1011++; socket.close(1011, 'dependency not ready'); return }
    socket.on('message', (data) => { echoed++; socket.send(data.toString()) })
  })
  const { ws } = await listen(app)
  let readyAt = 0
  app.readiness.once('ready', () => { readyAt = Date.now() })
  // The dependency comes up 300 ms after the gate first turned a client away (refused or held), not 300 ms
  // after listen: on a loaded machine the first clients may take that long to arrive, and then none is
  // ever turned away.
  const stats = () => app.readiness.websocket.getConnectionReadiness().routes['/ws']
  const up = until(() => (stats()?.refused ?? 0) + (stats()?.heldTotal ?? 0) > 0, 15_000).then(() => sleep(300)).then(() => { db.up = true })

  const deadline = Date.now() + 15_000
  const reports: ClientReport[] = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => stormClient(i, `${ws}/ws`, deadline)))
  await up

  t.ok(readyAt > 0, 'the app became ready')
  t.equal(handlerRunsBeforeReady, 0, 'zero upgrades reached the handler before ready')
  t.equal(handler1011, 0, 'the handler never closed with 1011')
  t.same(reports.flatMap((r) => r.closeCodes).filter((c) => c === 1011), [], 'no client saw 1011')
  t.equal(reports.filter((r) => r.in).length, CLIENTS, 'every client got in')
  t.equal(echoed, CLIENTS, 'every message was echoed')
  t.same(reports.flatMap((r) => r.errors), [], 'no client saw a transport error')
  t.ok(reports.every((r) => (r.openedAt as number) >= readyAt), 'no socket opened for the app before ready')
  return { reports, app }
}

t.test('reject mode: 503 + Retry-After until ready, clients that honour it all get in', async (t) => {
  const { reports, app } = await coldStartStorm(t, 'reject')
  const refusals = reports.flatMap((r) => r.refusals)
  t.ok(refusals.length > 0, `early clients were refused first (${refusals.length} refusals)`)
  t.ok(refusals.every((s) => s === 503), 'refusals are 503')
  t.ok(reports.every((r) => r.attempts <= 3), 'each client got in within a couple of retries')
  t.equal(app.readiness.websocket?.getConnectionReadiness().routes['/ws']?.refused, refusals.length, 'the route counted every refusal')
})

t.test('hold mode: upgrades are parked and let through at readiness, none refused', async (t) => {
  const { reports, app } = await coldStartStorm(t, 'hold')
  t.same(reports.flatMap((r) => r.refusals), [], 'no refusals: every upgrade was held')
  t.ok(reports.every((r) => r.attempts === 1), 'one attempt each')
  const route = app.readiness.websocket?.getConnectionReadiness().routes['/ws']
  // On a loaded machine the last clients may only arrive after readiness, and go straight in.
  t.ok((route?.heldTotal ?? 0) > 0 && (route?.heldTotal ?? 0) <= CLIENTS, `early clients were held (${route?.heldTotal})`)
  t.equal(route?.accepted, CLIENTS, 'every client was admitted once')
  t.equal(route?.held, 0, 'nothing left held')
})

t.test('accept-then-close mode: early sockets are closed with 1013 (never 1011), the handler never runs for them', async (t) => {
  const { reports } = await coldStartStorm(t, 'accept-then-close')
  const codes = reports.flatMap((r) => r.closeCodes)
  t.ok(codes.filter((c) => c === 1013).length > 0, 'early clients were told to try again later')
  t.same([...new Set(codes)].sort(), [1000, 1013], 'only 1013 (not ready) and 1000 (the client leaving) were seen')
})

t.test('the first moment a health route says 200, an upgrade succeeds', async (t) => {
  for (const route of ['/health/ready', '/health/websocket']) {
    const db = new Switch(false)
    let warmed = false
    const app = await buildApp(t, {
      probes: { db: { check: db.check, startIntervalMs: 5 } },
      phases: { dependencies: { probes: ['db'] }, websocket: { after: ['dependencies'], run: async () => { await sleep(50); warmed = true } } },
      websocket: { mode: 'reject' }
    })
    app.get('/ws', { websocket: true }, (socket) => {
      if (!db.up || !warmed) { socket.close(1011); return }
      socket.on('message', (data) => socket.send(`echo ${data.toString()}`))
    })
    const { http, ws } = await listen(app)
    setTimeout(() => { db.up = true }, 100)
    let polls = 0
    while ((await fetch(`${http}${route}`)).status !== 200) polls++
    const outcome = await connect(`${ws}/ws`)
    t.equal(outcome.kind, 'open', `${route}: upgrade accepted right after the first 200 (after ${polls} polls)`)
    if (outcome.kind === 'open') {
      const reply = nextMessage(outcome.ws)
      outcome.ws.send('ping')
      t.equal(await reply, 'echo ping', `${route}: the handler served it, no 1011`)
      outcome.ws.close()
    }
    await app.close()
  }
})
