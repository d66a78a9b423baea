import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness from '../index.js'
import { Switch } from './helpers/app.js'
import { closed, connect, listen, sleep, until } from './helpers/net.js'

// Alone in its file so that nothing else's sockets and timers blur the count.
t.test('no handles left open after close', async (t) => {
  const before = count(process.getActiveResourcesInfo())
  const db = new Switch(true)
  const app = Fastify()
  await app.register(websocket)
  await app.register(readiness, { probes: { db: { check: db.check, intervalMs: 10 } }, websocket: { mode: 'hold' } })
  app.get('/ws', { websocket: true }, () => {})
  const { ws } = await listen(app)
  await until(() => app.readiness.isReady())
  const clients = await Promise.all(Array.from({ length: 5 }, () => connect(`${ws}/ws`)))
  await app.close()
  await Promise.all(clients.map((c) => c.kind === 'open' ? closed(c.ws) : undefined))
  // Sockets release their handles a turn or two after 'close', later on a loaded machine: wait until the
  // count is back (a leaked handle never goes, so the 5 s bound only decides how long a failure takes).
  const same = (): boolean => {
    const now = count(process.getActiveResourcesInfo())
    return Object.keys(now).length === Object.keys(before).length && Object.entries(before).every(([k, v]) => now[k] === v)
  }
  await until(same, 5000).catch(() => {})
  const after = count(process.getActiveResourcesInfo())
  t.same(after, before, 'no sockets, servers or timers remain')
  const calls = db.calls
  // Five probe intervals: a probe still polling would run in them (its timers come due before this one).
  await sleep(50)
  t.equal(db.calls, calls, 'probes stopped polling')
})

function count (resources: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of resources) if (/TCP|Timeout|Immediate/.test(r)) out[r] = (out[r] ?? 0) + 1
  return out
}
