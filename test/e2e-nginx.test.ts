import t, { type Test } from 'tap'
import { missing } from './helpers/processes.js'
import { NGINX, startInstance, startNginx, status, upgrade, waitFor, type Upgrade } from './helpers/proxies.js'
import { freePort } from './helpers/servers.js'

/**
 * docs/proxies.md's nginx configuration (proxy_next_upstream error timeout http_503), real nginx in front
 * of two real instances: one in a cold start that outlasts the test, one ready. The starting one is first
 * in the upstream, so round robin sends it the first upgrade.
 */

const UPGRADES = 40

async function behindNginx (t: Test, mode: string, env: Record<string, string> = {}): Promise<{ outcomes: Upgrade[], stats: any }> {
  const [starting, ready, proxy] = [await freePort(), await freePort(), await freePort()]
  await startInstance(t, 'ready', ready, { GATE_MODE: mode, ...env })
  await waitFor('the ready instance is ready', async () => (await status(`http://127.0.0.1:${ready}/health/ready`)) === 200)
  await startInstance(t, 'starting', starting, { GATE_MODE: mode, PHASE_MS: '60000', ...env })
  await startNginx(t, proxy, [starting, ready])
  const outcomes: Upgrade[] = []
  // One after the other, as clients arriving during a cold start: round robin alternates between the two.
  for (let i = 0; i < UPGRADES; i++) outcomes.push(await upgrade(`ws://127.0.0.1:${proxy}/ws`))
  const stats = await fetch(`http://127.0.0.1:${starting}/stats`).then(async (r) => await r.json())
  return { outcomes, stats }
}

const served = (outcomes: Upgrade[], by: string): number => outcomes.filter((o) => o.kind === 'served' && o.by === by).length
const summary = (outcomes: Upgrade[]): string => JSON.stringify(outcomes.reduce<Record<string, number>>((n, o) => {
  const key = o.kind === 'served' ? `served by ${o.by}` : o.kind === 'closed' ? `closed ${o.code}` : o.kind === 'refused' ? `refused ${o.status}` : 'error'
  n[key] = (n[key] ?? 0) + 1
  return n
}, {}))

t.test('nginx, reject: every upgrade lands on the ready instance, no client sees an error', { skip: missing(NGINX, 'nginx'), timeout: 60_000 }, async (t) => {
  const { outcomes, stats } = await behindNginx(t, 'reject')
  t.comment(summary(outcomes))
  t.equal(served(outcomes, 'ready'), UPGRADES, `${UPGRADES}/${UPGRADES} served by the ready instance`)
  t.ok(stats.refused >= 1, `the starting instance refused ${stats.refused} with 503, which nginx retried`)
  t.equal(stats.accepted, 0, 'the starting instance admitted none')
})

t.test('nginx, hold: the first upgrade waits out the hold, then nginx retries it on the ready instance', { skip: missing(NGINX, 'nginx'), timeout: 60_000 }, async (t) => {
  const { outcomes, stats } = await behindNginx(t, 'hold', { HOLD_TIMEOUT_MS: '1500' })
  t.comment(summary(outcomes))
  t.equal(served(outcomes, 'ready'), UPGRADES, `${UPGRADES}/${UPGRADES} served by the ready instance`)
  t.ok(stats.holdTimeouts >= 1, `the starting instance held ${stats.heldTotal} until the hold timeout (${stats.holdTimeouts} timeouts), then answered 503`)
  t.equal(stats.accepted, 0, 'the starting instance admitted none')
})

t.test('nginx, accept-then-close: a proxy cannot retry after a 101, so the clients sent to the starting instance get 1013', { skip: missing(NGINX, 'nginx'), timeout: 60_000 }, async (t) => {
  const { outcomes, stats } = await behindNginx(t, 'accept-then-close')
  t.comment(summary(outcomes))
  const tryLater = outcomes.filter((o) => o.kind === 'closed' && o.code === 1013).length
  t.ok(tryLater >= 1, `${tryLater}/${UPGRADES} closed with 1013 (Try Again Later) by the starting instance`)
  t.equal(served(outcomes, 'ready') + tryLater, UPGRADES, 'the rest were served by the ready instance; nothing else (no 1011, no error)')
  t.equal(stats.refused, tryLater, 'every 1013 came from the starting instance\'s gate')
})
