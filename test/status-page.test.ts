import t, { type Test } from 'tap'
import { mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ARTEFACTS, browser, docsShot, skipWithoutChromium } from './helpers/browser.js'
import { bearerToken } from '../lib/health/details-policy.js'
import { buildApp, Switch } from './helpers/app.js'
import { connect, getJson, listen, until } from './helpers/net.js'

// Functions passed to page.waitForFunction run in the browser, where these exist (this project's tsconfig has no DOM lib).
declare const document: any
declare const window: any
declare const getComputedStyle: any

const skip = skipWithoutChromium
const TOKEN = 'status-page-secret-0123456789'

async function coldStartApp (t: Test, statusPage: object): Promise<{ app: Awaited<ReturnType<typeof buildApp>>, http: string, ws: string, finish: () => void, db: Switch }> {
  let finish = (): void => {}
  const warmedUp = new Promise<void>((resolve) => { finish = resolve })
  const db = new Switch(false)
  const app = await buildApp(t, {
    probes: { db: { check: db.check, intervalMs: 50 }, cache: { check: async () => {}, intervalMs: 200, critical: false } },
    phases: {
      config: { run: async () => { await new Promise((resolve) => setTimeout(resolve, 150)) } },
      dependencies: { after: ['config'], probes: ['db'] },
      warmup: { after: ['dependencies'], run: async () => { await warmedUp }, timeoutMs: 30_000 }
    },
    websocket: { mode: 'reject' },
    statusPage
  })
  app.get('/chat', { websocket: true }, () => {})
  const { http, ws } = await listen(app)
  return { app, http, ws, finish, db }
}

t.test('anonymous callers get 404 from the data and a shell with no data in it', async (t) => {
  const { http } = await coldStartApp(t, { details: bearerToken(TOKEN) })
  const shell = await fetch(`${http}/readiness/status`)
  t.equal(shell.status, 200, 'the static shell loads (a browser cannot send a bearer token on a navigation)')
  const html = await shell.text()
  t.notMatch(html, /\bdb\b|warmup|dependencies/, 'the shell names no phase or probe')
  t.equal(html, await (await fetch(`${http}/readiness/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).text(), 'the same bytes with or without the token')
  for (const path of ['/readiness/status.json']) {
    const anonymous = await fetch(`${http}${path}`)
    t.equal(anonymous.status, 404, `${path}: 404 without a token`)
    t.notMatch(await anonymous.text(), /db|warmup|probe/, 'no data in the body')
    t.equal((await fetch(`${http}${path}`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 404, `${path}: 404 with a wrong token`)
    t.equal((await fetch(`${http}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200, `${path}: 200 with the token`)
  }
  const { body } = await getJson(`${http}/readiness/status.json`, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.ok(body.status.phases.warmup !== undefined && body.probeFirstPass !== undefined, 'the data carries phases and first passes')
})

t.test('the page is off by default and refuses bad options', async (t) => {
  const { app } = await coldStartApp(t, false as never)
  t.equal((await app.inject('/readiness/status')).statusCode, 404, 'no route without the option')
  const never = await buildApp(t, { statusPage: {} })
  t.equal((await never.inject('/readiness/status.json')).statusCode, 404, 'enabled without a policy: data for nobody')
  await t.rejects(buildApp(t, { statusPage: { details: 'sometimes' as never } }), /statusPage\.details/)
  await t.rejects(buildApp(t, { statusPage: { path: 'status' } }), /statusPage\.path/)
  await t.rejects(buildApp(t, { statusPage: { refreshIntervalMs: 10 } }), /statusPage\.refreshInterval/)
  await t.rejects(buildApp(t, { statusPage: { extra: 1 } as never }), /statusPage/)
})

t.test('in Chromium the page shows the cold start live: phases on a time axis, probes, gate counters', { skip, timeout: 60_000 }, async (t) => {
  const { http, ws, finish, db } = await coldStartApp(t, { details: bearerToken(TOKEN), refreshIntervalMs: 250 })
  const page = await (await browser(t)).newPage({ viewport: { width: 980, height: 520 } })
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()) })
  const anonymous = await (await browser(t)).newPage()
  await anonymous.goto(`${http}/readiness/status`)
  await anonymous.waitForFunction(() => document.body.dataset.state === 'no access', undefined, { timeout: 15_000, polling: 100 })
  t.match(await anonymous.textContent('#error'), /#token=/, 'an anonymous browser is told how to get in, and sees no data')
  t.equal(await anonymous.$$eval('#probes tbody tr', (rows) => rows.length), 0, 'no probe rows')
  await page.addInitScript(() => {
    (globalThis as any).cspViolations = []
    ;(globalThis as any).addEventListener('securitypolicyviolation', (e: any) => (globalThis as any).cspViolations.push(e.violatedDirective))
  })
  await page.goto(`${http}/readiness/status#token=${TOKEN}`)
  await page.waitForFunction(() => document.body.dataset.state === 'starting', undefined, { timeout: 15_000, polling: 100 })
  t.equal(await page.evaluate(() => getComputedStyle(document.querySelector('#state')).borderRadius), '10px', 'the hashed style applies under the CSP')
  t.same(await page.evaluate(() => [...document.querySelectorAll('#probes th')].map((th: any) => th.textContent)),
    ['probe', 'status', 'critical', 'last run', 'runs', 'failed runs, total', 'failed in a row', 'last error'], 'the probe columns, labelled')
  t.equal(await page.textContent('#probes tr[data-probe="db"] td:nth-child(2)'), 'fail', 'the failing probe shows as fail')
  await page.waitForFunction(() => Number(document.querySelector('#probes tr[data-probe="db"] td:nth-child(6)')?.textContent) >= 1, undefined, { timeout: 15_000, polling: 100 })
  t.pass('its failed runs are counted')

  // Two clients refused during the cold start: the page's counter follows.
  const refused = await Promise.all([connect(`${ws}/chat`), connect(`${ws}/chat`)])
  t.same(refused.map((o) => o.kind === 'refused' ? o.status : o.kind), [503, 503])
  await page.waitForFunction(() => document.querySelector('#gate tr[data-route="/chat"] td:nth-child(7)')?.textContent === '2', undefined, { timeout: 15_000, polling: 100 })
  t.pass('the gate row shows 2 refused, live')

  db.up = true
  await page.waitForFunction(() => document.querySelectorAll('#timeline path').length >= 1, undefined, { timeout: 15_000, polling: 100 })
  t.pass('the db probe\'s first pass is marked on the timeline')
  await new Promise((resolve) => setTimeout(resolve, 300))
  finish()
  await page.waitForFunction(() => document.body.dataset.state === 'ready (degraded)' || document.body.dataset.state === 'ready', undefined, { timeout: 15_000, polling: 100 })
  const opened = await connect(`${ws}/chat`)
  t.equal(opened.kind, 'open')
  await page.waitForFunction(() => document.querySelector('#gate tr[data-route="/chat"] td:nth-child(6)')?.textContent === '1', undefined, { timeout: 15_000, polling: 100 })
  t.pass('the gate row shows 1 admitted')

  const dbRow = await page.$$eval('#probes tr[data-probe="db"] td', (tds) => tds.map((td) => td.textContent))
  t.ok(Number(dbRow[5]) >= 1 && dbRow[6] === '0', `after the pass: ${dbRow[5]} failed runs in all, ${dbRow[6]} in a row`)
  const bars = await page.$$eval('#timeline rect', (rects) => rects.length)
  t.equal(bars, 3, 'one bar per phase')
  const ticks = await page.$$eval('#timeline text.tick', (els) => els.map((e) => e.textContent))
  t.ok(ticks.some((s) => s === '0 ms'), `the axis starts at 0 (${ticks.join(', ')})`)
  t.ok(ticks.length >= 4, 'with several ticks')
  t.match(await page.textContent('#startup'), /startup done in .* budget/, 'startup line with duration and budget')
  const axes = await page.$$eval('#timeline text.axis', (els) => els.map((e) => e.textContent))
  t.same(axes, ['phase', 'time since startup began'], 'both axes are labelled')
  t.same(await page.evaluate(() => (globalThis as any).cspViolations), [], 'no CSP violation: the script and the style are allowed by their hashes')

  mkdirSync(ARTEFACTS, { recursive: true })
  const file = join(ARTEFACTS, 'status-page.png')
  await page.screenshot({ path: file, fullPage: true })
  t.ok(statSync(file).size > 5000, 'a screenshot was written')
  t.comment(`status page screenshot: ${file}`)
  await docsShot(page, 'status-page.png', { zoom: 0.7, width: 700, height: 330, settleMs: 800 })
  t.same(errors, [], 'no script errors on the page')
  if (opened.kind === 'open') opened.ws.close()
  await until(() => true)
})

t.test('a hostile probe error is shown as text, never as markup', { skip, timeout: 30_000 }, async (t) => {
  const app = await buildApp(t, {
    probes: { evil: { check: async () => { throw new Error('<img src=x onerror="window.pwned=1"><b>bold</b>') }, intervalMs: 50 } },
    statusPage: { details: 'always' }
  })
  const { http } = await listen(app)
  await until(() => app.readiness.status().probes.evil.status === 'fail', 10_000)
  const page = await (await browser(t)).newPage()
  await page.goto(`${http}/readiness/status`)
  await page.waitForSelector('#probes tr[data-probe="evil"]', { timeout: 10_000 })
  t.equal(await page.$$eval('#probes b, #probes img', (els) => els.length), 0, 'no element came from the error text')
  t.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'no script ran')
  t.match(await page.textContent('#probes tr[data-probe="evil"] td.err'), /<img src=x/, 'the text is shown as it is')
})
