import t, { type Test } from 'tap'
import { mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { ARTEFACTS, browser, docsShot, skipWithoutChromium } from './helpers/browser.js'
import { startChat } from './helpers/processes.js'
import { freePort } from './helpers/servers.js'

// Functions passed to page.waitForFunction run in the browser, where these exist (this project's tsconfig has no DOM lib).
declare const document: any
declare const window: any

const skip = skipWithoutChromium

const text = async (page: Page, selector: string): Promise<string> => (await page.textContent(selector)) ?? ''
async function wait (page: Page, fn: () => boolean): Promise<void> {
  try {
    await page.waitForFunction(fn, undefined, { timeout: 25_000, polling: 100 })
  } catch (err) {
    mkdirSync(ARTEFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTEFACTS, 'demo-failure.png'), fullPage: true }).catch(() => {})
    throw err
  }
}

async function shoot (t: Test, page: Page, name: string): Promise<string> {
  mkdirSync(ARTEFACTS, { recursive: true })
  const file = join(ARTEFACTS, name)
  await page.screenshot({ path: file, fullPage: true })
  t.comment(`screenshot: ${file}`)
  return file
}

t.test('the demo page explains a gated cold start next to a naive one', { skip, timeout: 90_000 }, async (t) => {
  const port = await freePort()
  // reject mode: in hold mode Chromium queues the naive handshake behind the held one (one CONNECTING socket per host)
  // The browser first: on a loaded machine Chromium takes seconds to start, longer than a short warm-up.
  const page = await (await browser(t)).newPage({ viewport: { width: 1000, height: 640 } })
  await page.goto('about:blank')
  await startChat(t, port, { WARMUP_MS: '15000', GATE_MODE: 'reject', LOG_LEVEL: 'warn' })
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(`http://127.0.0.1:${port}/`)
  await wait(page, () => (window as unknown as { demoReady?: boolean }).demoReady === true)

  t.match(await text(page, '#explain'), /Gated \(reject mode\) next to naive/, 'the page says what it shows')
  const links = await page.$$eval('#links a', (as) => as.map((a) => a.getAttribute('href')))
  t.same(links, ['/health/live', '/health/startup', '/health/ready', '/health/websocket', '/readiness/status'], 'links to the health routes and the status page')
  await wait(page, () => document.body.dataset.gate === 'closed')
  t.match(await text(page, '#gate'), /gate closed: upgrades refused/, 'the gate state during warm-up')

  await page.fill('#text', 'typed during warm-up')
  await page.click('form button')
  t.match(await text(page, 'section[data-chat="gated"] .messages li'), /queued|waiting/, 'the gated message shows as queued or waiting, not gone')

  await wait(page, () => document.querySelector('section[data-chat="naive"] .attempts')?.textContent?.includes('closed 1011: server error') === true)
  t.pass('the naive column shows a 1011 close, in words')

  await wait(page, () => document.querySelector('section[data-chat="gated"] .messages li')?.className === 'delivered')
  t.match(await text(page, 'section[data-chat="gated"] .messages li'), /delivered as #1/, 'the queued message was delivered once ready')
  await wait(page, () => document.body.dataset.gate === 'open')
  t.match(await text(page, '#warmup'), /store ready at/, 'the warm-up bar ends')
  await wait(page, () => document.querySelector('section[data-chat="naive"] .messages li')?.className === 'delivered' || document.querySelector('section[data-chat="naive"] .messages li')?.className === 'lost')
  const naive = await text(page, 'section[data-chat="naive"] .messages li')
  t.match(naive, /delivered|lost: the connection closed 1011/, `the naive message is accounted for: ${naive}`)
  const gatedAttempts = await page.$$eval('section[data-chat="gated"] .attempts li', (lis) => lis.map((li) => li.textContent))
  t.ok(gatedAttempts.every((a) => !(a ?? '').includes('1011')), 'the gated column never saw 1011')
  await page.waitForTimeout(300)
  const file = await shoot(t, page, 'demo-page.png')
  t.ok(statSync(file).size > 5000)
  await docsShot(page, 'demo-page.png', { zoom: 0.62, width: 620, height: 380 })
  t.same(errors, [], 'no script errors')
})

t.test('hold mode: the naive column shows its 1011 on the first cold start too', { skip, timeout: 60_000 }, async (t) => {
  const port = await freePort()
  const page = await (await browser(t)).newPage({ viewport: { width: 1000, height: 640 } })
  await page.goto('about:blank')
  await startChat(t, port, { WARMUP_MS: '15000', GATE_MODE: 'hold', LOG_LEVEL: 'warn' })
  await page.goto(`http://127.0.0.1:${port}/`)
  await wait(page, () => (window as unknown as { demoReady?: boolean }).demoReady === true)
  // Chromium makes one handshake at a time per host: the naive client starts first, so it is not stuck behind the held one.
  await wait(page, () => document.querySelector('section[data-chat="naive"] .attempts')?.textContent?.includes('closed 1011: server error') === true)
  t.pass('the naive 1011 is shown while the gate still holds the gated upgrade')
  t.equal(await page.evaluate(() => document.body.dataset.gate), 'closed', 'during the warm-up')
  const glyphs = await page.evaluate(() => [...document.querySelectorAll('style')].map((s: any) => s.textContent).join('') + document.body.textContent)
  t.notMatch(glyphs, /[^\t\n\r -~]/, 'plain ASCII only: no glyph a default Debian font lacks')
})

t.test('the restart button starts the server cold, live: 1012, then the gate closed and open again', { skip, timeout: 90_000 }, async (t) => {
  const port = await freePort()
  const page = await (await browser(t)).newPage({ viewport: { width: 1000, height: 640 } })
  await page.goto('about:blank')
  const chat = await startChat(t, port, { WARMUP_MS: '2000', GATE_MODE: 'reject', LOG_LEVEL: 'warn' })
  await page.goto(`http://127.0.0.1:${port}/`)
  await wait(page, () => (window as unknown as { demoReady?: boolean }).demoReady === true)
  // Both clients connected first, so the restart has sockets to close.
  await wait(page, () => document.querySelector('section[data-chat="gated"] .badge')?.textContent === 'open')
  await page.click('#restart')
  await wait(page, () => document.body.dataset.restarts === '1')
  t.pass('the page saw a new instance start')
  await wait(page, () => document.querySelector('section[data-chat="gated"] .attempts')?.textContent?.includes('closed 1012') === true)
  t.pass('the open socket was closed with 1012 by the restart')
  await wait(page, () => document.body.dataset.gate === 'open' && document.querySelector('section[data-chat="gated"] .badge')?.textContent === 'open')
  t.pass('after the new warm-up the gate opens and the client is back')
  t.equal(chat.child.exitCode, null, 'the same process: a restart in place')
  const res = await fetch(`http://127.0.0.1:${port}/demo/info`)
  t.equal(((await res.json()) as { restart?: boolean }).restart, true)
})

t.test('GATE=off: the page shows the naive server alone and says so', { skip, timeout: 60_000 }, async (t) => {
  const port = await freePort()
  const page = await (await browser(t)).newPage({ viewport: { width: 800, height: 500 } })
  await page.goto('about:blank')
  await startChat(t, port, { WARMUP_MS: '10000', GATE: 'off', LOG_LEVEL: 'warn' })
  await page.goto(`http://127.0.0.1:${port}/`)
  await wait(page, () => (window as unknown as { demoReady?: boolean }).demoReady === true)
  t.match(await text(page, '#explain'), /Naive \(GATE=off\)/)
  t.equal(await page.$$eval('section[data-chat]', (s) => s.length), 1, 'one column')
  t.match(await text(page, '#gate'), /no gate/)
  await wait(page, () => document.querySelector('section[data-chat="naive"] .attempts')?.textContent?.includes('closed 1011') === true)
  t.pass('1011 closes are shown, in words, not as a bare "open"')
})
