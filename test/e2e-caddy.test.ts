import t, { type Test } from 'tap'
import { missing } from './helpers/processes.js'
import { CADDY, startCaddy, startInstance, status, upgrade, waitFor, type Upgrade } from './helpers/proxies.js'
import { freePort } from './helpers/servers.js'

/**
 * docs/proxies.md's Caddyfile (active health checks on /health/websocket every 200 ms, lb_try_duration),
 * real Caddy in front of two real instances: one in a cold start that outlasts the test, one ready.
 */

const UPGRADES = 40

async function behindCaddy (t: Test, mode: string): Promise<{ outcomes: Upgrade[], stats: any }> {
  const [starting, ready, proxy] = [await freePort(), await freePort(), await freePort()]
  await startInstance(t, 'ready', ready, { GATE_MODE: mode })
  await waitFor('the ready instance is ready', async () => (await status(`http://127.0.0.1:${ready}/health/websocket`)) === 200)
  await startInstance(t, 'starting', starting, { GATE_MODE: mode, PHASE_MS: '60000' })
  t.equal(await status(`http://127.0.0.1:${starting}/health/websocket`), 503, 'the starting instance\'s /health/websocket says 503')
  await startCaddy(t, proxy, [starting, ready])
  // Caddy takes an instance out after its first failed check: until then round robin alternates between
  // the two (docs/proxies.md, limits). Eight plain requests in a row on the ready one: the check has run.
  let run = 0
  await waitFor('Caddy\'s health check took the starting instance out', async () => {
    const name = await fetch(`http://127.0.0.1:${proxy}/name`).then(async (r) => ((await r.json()) as { name: string }).name, () => '')
    run = name === 'ready' ? run + 1 : 0
    return run >= 8
  })
  const outcomes: Upgrade[] = []
  for (let i = 0; i < UPGRADES; i++) outcomes.push(await upgrade(`ws://127.0.0.1:${proxy}/ws`))
  const stats = await fetch(`http://127.0.0.1:${starting}/stats`).then(async (r) => await r.json())
  return { outcomes, stats }
}

for (const mode of ['reject', 'hold', 'accept-then-close']) {
  t.test(`Caddy, ${mode}: the health check keeps every upgrade off the starting instance`, { skip: missing(CADDY, 'caddy'), timeout: 45_000 }, async (t) => {
    const { outcomes, stats } = await behindCaddy(t, mode)
    const ready = outcomes.filter((o) => o.kind === 'served' && o.by === 'ready').length
    t.equal(ready, UPGRADES, `${ready}/${UPGRADES} served by the ready instance`)
    t.same(outcomes.filter((o) => o.kind !== 'served'), [], 'no client saw a refusal, a close or an error')
    t.equal(stats.accepted + stats.refused + stats.heldTotal, 0, 'no upgrade reached the starting instance')
  })
}
