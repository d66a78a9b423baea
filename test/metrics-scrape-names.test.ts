import t from 'tap'
import { readFile } from 'node:fs/promises'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { buildApp, Switch } from './helpers/app.js'
import { closed, connect, listen, until, type WsOutcome } from './helpers/net.js'
import { freePort } from './helpers/servers.js'

// docs/observability.md lists the names a Prometheus scrape shows. This test
// makes every instrument report (a startup with a phase, a refused and a held
// upgrade, a probe flip that closes a socket on loss, a drain), scrapes the real
// exporter over HTTP and compares what it printed (name, TYPE, UNIT) with that list.

interface Family { type: string, unit: string }

function families (text: string): Map<string, Family> {
  const out = new Map<string, Family>()
  for (const m of text.matchAll(/^# TYPE (fastify_readiness\w*) (\w+)$/gm)) out.set(m[1], { type: m[2], unit: '' })
  for (const m of text.matchAll(/^# UNIT (fastify_readiness\w*) (\S+)$/gm)) {
    const f = out.get(m[1])
    if (f !== undefined) f.unit = m[2]
  }
  return out
}

/** The table under "### Instruments": its `Prometheus name`, `TYPE` and `unit` columns. */
async function documented (): Promise<Map<string, Family>> {
  const doc = await readFile(new URL('../docs/observability.md', import.meta.url), 'utf8')
  const section = doc.slice(doc.indexOf('### Instruments'))
  const rows = section.split('\n').filter((l) => l.startsWith('| `'))
  const header = section.split('\n').find((l) => l.startsWith('| instrument'))?.split('|').map((c) => c.trim()) ?? []
  const col = (name: string): number => header.indexOf(name)
  const out = new Map<string, Family>()
  for (const row of rows) {
    const cells = row.split('|').map((c) => c.trim().replace(/^`|`$/g, ''))
    out.set(cells[col('Prometheus name')], { type: cells[col('TYPE')], unit: cells[col('unit')] })
  }
  return out
}

t.test('the names a real Prometheus scrape shows are the ones docs/observability.md lists', async (t) => {
  const port = await freePort()
  const exporter = new PrometheusExporter({ port, host: '127.0.0.1' })
  await exporter.startServer()
  const provider = new MeterProvider({ readers: [exporter] })
  t.teardown(() => provider.shutdown())
  const scrape = async (): Promise<string> => await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()

  let finishWarmup = (): void => {}
  const warmedUp = new Promise<void>((resolve) => { finishWarmup = resolve })
  const db = new Switch(true)
  const app = await buildApp(t, {
    metrics: { meterProvider: provider },
    probes: { db: { check: db.check, intervalMs: 30 } },
    phases: { warmup: { probes: ['db'], run: async () => { await warmedUp }, timeoutMs: 20_000 } },
    websocket: { holdTimeoutMs: 15_000 }
  })
  app.get('/held', { websocket: true }, () => {})
  app.get('/refused', { websocket: true, readiness: { mode: 'reject' } }, () => {})
  app.get('/chat', { websocket: true, readiness: { closeOnLoss: true } }, () => {})
  const { ws } = await listen(app)

  // A startup: one upgrade refused, one held until the phase is done.
  t.equal((await connect(`${ws}/refused`)).kind, 'refused', 'refused during the cold start')
  const held = connect(`${ws}/held`)
  await until(() => app.readiness.websocket?.getConnectionReadiness().held === 1, 10_000)
  finishWarmup()
  t.equal((await held).kind, 'open', 'the held upgrade is admitted once ready')

  // A probe flip: the socket on the closeOnLoss route gets 1013, then the probe passes again.
  const chat = await connect(`${ws}/chat`)
  t.equal(chat.kind, 'open')
  const lost = closed((chat as Extract<WsOutcome, { kind: 'open' }>).ws)
  db.up = false
  t.equal((await lost).code, 1013, 'closed on loss')
  db.up = true
  await until(() => app.readiness.isReady(), 10_000)
  await until(() => app.readiness.status().probes.db?.runs !== undefined, 10_000)
  const live = families(await scrape())

  // A drain: the held socket gets 1012.
  await app.readiness.closeConnections()
  const all = new Map([...live, ...families(await scrape())])

  const docs = await documented()
  t.ok(docs.size >= 15, `docs list ${docs.size} names`)
  t.same([...all.keys()].sort(), [...docs.keys()].sort(), 'the same names, scraped and documented')
  for (const [name, family] of all) t.same(docs.get(name), family, `${name}: TYPE ${family.type}, UNIT ${family.unit}`)
  t.comment([...all].map(([n, f]) => `${n} ${f.type} ${f.unit}`).join('\n'))
})
