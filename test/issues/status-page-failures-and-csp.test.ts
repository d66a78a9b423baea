import t from 'tap'
import { createHash } from 'node:crypto'
import { buildApp } from '../helpers/app.js'
import { getJson, listen, until } from '../helpers/net.js'

// Issue 27: the status page's "fails" column showed 0 after six failed runs:
// it was consecutiveFailures, which a pass resets, and the header said only
// "fails". The snapshot now counts failures in all, and the page shows both,
// labelled. And the page's CSP allowed 'unsafe-inline' scripts and styles and
// sent no Referrer-Policy: a fixed script and style are allowed by hash now.

t.test('six failed runs then a pass: failures 6, failed in a row 0', async (t) => {
  let calls = 0
  const app = await buildApp(t, {
    probes: { flaky: { check: async () => { if (++calls <= 6) throw new Error(`down ${calls}`) }, intervalMs: 20 } },
    startup: { failedLivenessGraceMs: false },
    statusPage: { details: 'always' }
  })
  const { http } = await listen(app)
  await until(() => app.readiness.status().probes.flaky?.status === 'pass', 30_000)
  const { body } = await getJson(`${http}/readiness/status.json`)
  t.equal(body.status.probes.flaky.failures, 6, 'six failed runs in all')
  t.equal(body.status.probes.flaky.consecutiveFailures, 0, 'none in a row since the pass')
  const html = await (await fetch(`${http}/readiness/status`)).text()
  t.match(html, />failed runs, total</, 'the page labels the total')
  t.match(html, />failed in a row</, 'and the run of failures')
  t.notMatch(html, />fails</, 'the old ambiguous label is gone')
})

t.test('the page\'s CSP allows its own script and style by hash, nothing inline else; no referrer leaves it', async (t) => {
  const app = await buildApp(t, { statusPage: { details: 'always', path: '/ops/status' } })
  const { http } = await listen(app)
  const res = await fetch(`${http}/ops/status`)
  const csp = res.headers.get('content-security-policy') ?? ''
  t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'no unsafe-inline')
  t.equal(res.headers.get('referrer-policy'), 'no-referrer')
  const html = await res.text()
  const sha = (s: string): string => `'sha256-${createHash('sha256').update(s).digest('base64')}'`
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1])
  const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1])
  t.equal(scripts.length, 1, 'one inline script')
  t.equal(styles.length, 1, 'one inline style')
  t.match(csp, new RegExp(`script-src ${sha(scripts[0]).replace(/[+/]/g, '\\$&')};`), 'script-src is the script\'s hash')
  t.match(csp, new RegExp(`style-src ${sha(styles[0]).replace(/[+/]/g, '\\$&')};`), 'style-src is the style\'s hash')
  t.notMatch(html, /style="/, 'no style attribute, which a style hash would not cover')
  t.match(html, /data-data-url="\/ops\/status\.json"/, 'the app\'s settings travel as data, outside the hashed script')
  const other = await buildApp(t, { statusPage: { details: 'always', refreshIntervalMs: 5000 } })
  t.equal((await other.inject('/readiness/status')).headers['content-security-policy'], csp, 'the same hashes for every app: the script does not vary')
})
