import t from 'tap'
import { buildApp } from '../helpers/app.js'
import { connect, listen, sleep } from '../helpers/net.js'

/**
 * Issue 24: without an `expectedMs` hint, the estimate past the 1 s first guess grew as 2e - X, so a
 * client refused at 2 s was told 3 s, at 5 s told 9 s, and got in at about 14 s after a 6 s start.
 * Now retries follow a widening schedule (1, 2, 4, 7 s...): a client is never told to wait longer than
 * it has already waited, and gets in well before twice the start. Real ws clients, the real gate in
 * reject mode, each waiting exactly what Retry-After says.
 */
const CLIENTS = 40

t.test('a 6 s start without a hint: at most 4 refusals, no wait longer than the time waited, in long before twice the start', async (t) => {
  const app = await buildApp(t, {
    phases: { warmup: { run: () => sleep(6000), timeoutMs: 60_000 } },
    websocket: { mode: 'reject' }
  })
  app.get('/ws', { websocket: true }, (socket) => socket.close(1000))
  let readyAt = 0
  app.readiness.once('ready', () => { readyAt = Date.now() })
  const { ws } = await listen(app)
  const startAt = Date.now()
  const told: Array<{ waited: number, retryAfter: number }> = []
  const client = async (): Promise<{ refusals: number, openedAt: number }> => {
    for (let refusals = 0; ; refusals++) {
      const outcome = await connect(`${ws}/ws`)
      if (outcome.kind === 'open') {
        outcome.ws.close()
        return { refusals, openedAt: outcome.at }
      }
      if (outcome.kind !== 'refused') throw new Error(`unexpected outcome ${outcome.kind}`)
      if (refusals > 20) throw new Error('refused more than 20 times')
      const retryAfter = Number(outcome.headers['retry-after'])
      told.push({ waited: outcome.at - startAt, retryAfter })
      await sleep(retryAfter * 1000)
    }
  }
  const results = await Promise.all(Array.from({ length: CLIENTS }, client))
  const refusals = results.map((r) => r.refusals)
  const lastIn = Math.max(...results.map((r) => r.openedAt))
  t.ok(Math.max(...refusals) <= 4, `refusals per client: max ${Math.max(...refusals)}`)
  t.ok(Math.min(...results.map((r) => r.openedAt)) >= readyAt, 'nobody got in before ready')
  const longest = told.reduce((worst, x) => x.retryAfter * 1000 - x.waited > worst.retryAfter * 1000 - worst.waited ? x : worst)
  t.ok(told.every((x) => x.retryAfter <= Math.max(1, Math.ceil(x.waited / 1000))),
    `no client told to wait longer than it had waited (worst: told ${longest.retryAfter} s after ${longest.waited} ms)`)
  // A ratio, not a time: the old rule had the last client in at about 2.3 times the start.
  const ratio = (lastIn - startAt) / (readyAt - startAt)
  t.ok(ratio < 1.5, `last client in at ${ratio.toFixed(2)} x the start (${lastIn - readyAt} ms after ready)`)
})
