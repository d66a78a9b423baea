import t, { type Test } from 'tap'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import type WebSocket from 'ws'
import { buildApp, Switch } from './helpers/app.js'
import { closed, connect, listen, until, type WsOutcome } from './helpers/net.js'
import { freePort } from './helpers/servers.js'

/** Parses the Prometheus text format into `name{labels}` -> value (labels sorted, so lookups are stable). */
function parse (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)/.exec(line)
    if (m === null) continue
    const labels = m[3] === undefined ? [] : [...m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).filter((l) => !l.startsWith('otel_scope_'))
    out.set(`${m[1]}{${labels.sort().join(',')}}`, Number(m[4]))
  }
  return out
}

async function prometheus (t: Test): Promise<{ provider: MeterProvider, scrape: () => Promise<Map<string, number>>, raw: () => Promise<string> }> {
  const port = await freePort()
  const exporter = new PrometheusExporter({ port, host: '127.0.0.1' })
  await exporter.startServer()
  const provider = new MeterProvider({ readers: [exporter] })
  t.teardown(() => provider.shutdown())
  const raw = async (): Promise<string> => await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return { provider, raw, scrape: async () => parse(await raw()) }
}

const value = (m: Map<string, number>, key: string): number => m.get(key) ?? 0

t.test('a cold start and a drain, scraped from the real Prometheus exporter, match what the clients saw', async (t) => {
  const { provider, scrape, raw } = await prometheus(t)
  let finishWarmup = (): void => {}
  const warmedUp = new Promise<void>((resolve) => { finishWarmup = resolve })
  const db = new Switch(true)
  const app = await buildApp(t, {
    metrics: { meterProvider: provider },
    probes: { db: { check: db.check, intervalMs: 50 } },
    phases: { warmup: { probes: ['db'], run: async () => { await warmedUp }, timeoutMs: 20_000 } },
    websocket: { holdTimeoutMs: 15_000 }
  })
  app.get('/held', { websocket: true }, (socket) => { socket.on('message', (m) => socket.send(m)) })
  app.get('/refused', { websocket: true, readiness: { mode: 'reject' } }, (socket) => { socket.on('message', (m) => socket.send(m)) })
  const { ws } = await listen(app)

  // Cold start: 3 upgrades refused with 503 at once, 4 held.
  const refused = await Promise.all([1, 2, 3].map(async () => await connect(`${ws}/refused`)))
  t.same(refused.map((o) => o.kind === 'refused' ? o.status : o.kind), [503, 503, 503], 'the clients saw three 503s')
  const heldOutcomes = [1, 2, 3, 4].map(async () => await connect(`${ws}/held`))
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 4, 10_000)

  let m = await scrape()
  t.equal(value(m, 'fastify_readiness_ready{}'), 0, 'not ready during the cold start')
  t.equal(value(m, 'fastify_readiness_startup_state{fastify_readiness_startup_state="running"}'), 1, 'startup is running')
  t.equal(value(m, 'fastify_readiness_gate_refused_total{fastify_readiness_gate_reason="not_ready",http_route="/refused"}'), 3, 'three refusals, as the clients saw')
  t.equal(value(m, 'fastify_readiness_websocket_connection_count{fastify_readiness_connection_state="held",http_route="/held"}'), 4, 'four upgrades held now')
  t.equal(value(m, 'fastify_readiness_websocket_connection_count{fastify_readiness_connection_state="open",http_route="/held"}'), 0, 'none open yet')
  t.equal(value(m, 'fastify_readiness_probe_status{fastify_readiness_probe="db",fastify_readiness_probe_status="pass"}'), 1, 'the db probe passes')

  finishWarmup()
  const held = await Promise.all(heldOutcomes)
  t.same(held.map((o) => o.kind), ['open', 'open', 'open', 'open'], 'the held clients all got through once ready')
  const sockets = held.map((o) => (o as Extract<WsOutcome, { kind: 'open' }>).ws)
  await until(() => app.readiness.websocket?.getConnectionReadiness().open === 4, 10_000)

  m = await scrape()
  t.equal(value(m, 'fastify_readiness_ready{}'), 1, 'ready')
  t.equal(value(m, 'fastify_readiness_startup_state{fastify_readiness_startup_state="done"}'), 1, 'startup done')
  t.equal(value(m, 'fastify_readiness_startup_duration_count{fastify_readiness_outcome="done"}'), 1, 'one startup recorded')
  const startupSeconds = value(m, 'fastify_readiness_startup_duration_sum{fastify_readiness_outcome="done"}')
  t.ok(startupSeconds > 0 && startupSeconds < 60, `startup took ${startupSeconds} s`)
  t.equal(value(m, 'fastify_readiness_phase_duration_count{fastify_readiness_outcome="done",fastify_readiness_phase="warmup"}'), 1, 'one warmup phase recorded')
  t.equal(value(m, 'fastify_readiness_gate_admitted_total{fastify_readiness_gate_held="true",http_route="/held"}'), 4, 'four admitted after a hold')
  t.equal(value(m, 'fastify_readiness_gate_hold_duration_count{http_route="/held"}'), 4, 'four hold times recorded')
  const holdSum = value(m, 'fastify_readiness_gate_hold_duration_sum{http_route="/held"}')
  t.ok(holdSum > 0, `the holds add up to ${holdSum} s`)
  t.equal(value(m, 'fastify_readiness_gate_holds_total{http_route="/held"}'), 4, 'four holds in all')
  t.equal(value(m, 'fastify_readiness_websocket_connection_count{fastify_readiness_connection_state="open",http_route="/held"}'), 4, 'four open sockets, as the clients have')
  t.equal(value(m, 'fastify_readiness_websocket_connection_count{fastify_readiness_connection_state="held",http_route="/held"}'), 0, 'none held any more')
  t.equal(value(m, 'fastify_readiness_transitions_total{fastify_readiness_outcome="ready"}'), 1, 'one turn to ready')
  t.ok(value(m, 'fastify_readiness_probe_duration_count{fastify_readiness_probe="db"}') >= 1, 'probe run durations are recorded')

  // One more upgrade after ready: admitted without a hold.
  const late = await connect(`${ws}/refused`)
  t.equal(late.kind, 'open', 'a late client is admitted at once')
  sockets.push((late as Extract<WsOutcome, { kind: 'open' }>).ws)

  // The drain: every open socket gets 1012.
  const codes = Promise.all(sockets.map(async (s: WebSocket) => (await closed(s)).code))
  await app.readiness.closeConnections()
  const seen = await codes
  t.same(seen, [1012, 1012, 1012, 1012, 1012], 'the clients saw five 1012 closes')

  m = await scrape()
  t.equal(value(m, 'fastify_readiness_websocket_drained_total{fastify_readiness_close_code="1012",fastify_readiness_outcome="closed"}'), seen.length, 'the drain counted what the clients saw')
  t.equal(value(m, 'fastify_readiness_websocket_drained_total{fastify_readiness_close_code="1012",fastify_readiness_outcome="terminated"}'), 0, 'none cut')
  t.equal(value(m, 'fastify_readiness_gate_admitted_total{fastify_readiness_gate_held="false",http_route="/refused"}'), 1, 'the late client, admitted without a hold')
  t.equal(value(m, 'fastify_readiness_draining{}'), 1, 'draining')
  t.equal(value(m, 'fastify_readiness_ready{}'), 0, 'not ready while draining')
  t.equal(value(m, 'fastify_readiness_transitions_total{fastify_readiness_outcome="not_ready"}'), 1, 'one turn to not ready')

  const text = await raw()
  t.match(text, /^# TYPE fastify_readiness_startup_duration histogram$/m, 'startup duration is a histogram')
  t.match(text, /^# UNIT fastify_readiness_startup_duration s$/m, 'in seconds')
  t.comment(text.split('\n').filter((l) => l.startsWith('fastify_readiness') && !l.includes('_bucket')).join('\n'))
})

t.test('refusals by reason, closes on loss and probe flaps are counted', async (t) => {
  const { provider, scrape } = await prometheus(t)
  const db = new Switch(true)
  const app = await buildApp(t, {
    metrics: { meterProvider: provider },
    probes: { db: { check: db.check, intervalMs: 30 } },
    websocket: { mode: 'accept-then-close' }
  })
  app.get('/chat', { websocket: true, readiness: { closeOnLoss: true } }, () => {})
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady(), 10_000)
  const open = await Promise.all([1, 2].map(async () => await connect(`${ws}/chat`)))
  const codes = Promise.all(open.map(async (o) => (await closed((o as Extract<WsOutcome, { kind: 'open' }>).ws)).code))
  db.up = false
  t.same(await codes, [1013, 1013], 'the clients saw two 1013 closes on the loss')
  const late = await connect(`${ws}/chat`)
  t.equal(late.kind, 'open', 'accept-then-close completes the handshake')
  t.equal((await closed((late as Extract<WsOutcome, { kind: 'open' }>).ws)).code, 1013, 'then closes with 1013')
  db.up = true
  await until(() => app.readiness.isReady(), 10_000)

  const m = await scrape()
  t.equal(value(m, 'fastify_readiness_gate_closed_on_loss_total{http_route="/chat"}'), 2, 'two closed on loss')
  t.equal(value(m, 'fastify_readiness_gate_refused_total{fastify_readiness_gate_reason="not_ready",http_route="/chat"}'), 1, 'one refused while not ready')
  t.equal(value(m, 'fastify_readiness_probe_transitions_total{fastify_readiness_probe="db",fastify_readiness_probe_status="fail"}'), 1, 'the flap to fail')
  t.equal(value(m, 'fastify_readiness_probe_transitions_total{fastify_readiness_probe="db",fastify_readiness_probe_status="pass"}'), 2, 'pass at start and after the loss')
  t.equal(value(m, 'fastify_readiness_transitions_total{fastify_readiness_outcome="ready"}'), 2, 'ready twice')
})

t.test('without an SDK nothing is subscribed; metrics: false registers nothing; a bad provider is refused', async (t) => {
  const app = await buildApp(t, { probes: { db: async () => {} } })
  await app.ready()
  t.equal(app.readiness.listenerCount('gateAdmitted'), 0, 'no listener on the gate events with the API\'s no-op meter')
  t.equal(app.readiness.listenerCount('phaseFinished'), 0)
  t.notOk(app.hasPlugin('fastify-readiness-metrics') && app.readiness.listenerCount('probeChanged') > 0, 'no probe listener either')

  const off = await buildApp(t, { metrics: false })
  t.notOk(off.hasPlugin('fastify-readiness-metrics'), 'metrics: false: no plugin')

  await t.rejects(buildApp(t, { metrics: { meterProvider: {} as never } }), /metrics\.meterProvider/)
  await t.rejects(buildApp(t, { metrics: { nope: 1 } as never }), /metrics/)
  await t.rejects(buildApp(t, { metrics: 'yes' as never }), /metrics/)
})

t.test('the metrics stop when the app closes', async (t) => {
  const { provider } = await prometheus(t)
  const app = await buildApp(t, { metrics: { meterProvider: provider } })
  await app.ready()
  t.ok(app.readiness.listenerCount('gateAdmitted') > 0, 'subscribed with an SDK')
  await app.close()
  t.equal(app.readiness.listenerCount('gateAdmitted'), 0, 'unsubscribed on close')
})
