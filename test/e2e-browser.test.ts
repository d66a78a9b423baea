import t from 'tap'
import type { Page } from 'playwright-core'
import { browser, skipWithoutChromium } from './helpers/browser.js'
import { sleep } from './helpers/net.js'
import { startChat } from './helpers/processes.js'
import { freePort } from './helpers/servers.js'

const skip = skipWithoutChromium

// The page sets up its chat once its script has read the server's config.
const pageReady = (page: Page): Promise<unknown> => page.waitForFunction(() => (globalThis as unknown as { chat?: unknown }).chat !== undefined, undefined, { timeout: 15_000 })
const received = (page: Page): Promise<string[]> => page.evaluate(() => (globalThis as unknown as { received: string[] }).received)
const closeCodes = (page: Page): Promise<number[]> => page.evaluate(() => [...(globalThis as unknown as { closes: number[] }).closes])
const state = (page: Page): Promise<string> => page.evaluate(() => (globalThis as unknown as { chat: { state: string } }).chat.state)

t.test('a browser page that connects during a cold start ends connected and exchanging messages', { skip, timeout: 60_000 }, async (t) => {
  const port = await freePort()
  const page = await (await browser(t)).newPage()
  // The warm-up runs from the store's creation, and a loaded machine takes seconds to listen: long enough
  // that the page still loads inside it, which is checked rather than assumed.
  await startChat(t, port, { WARMUP_MS: '5000', GATE_MODE: 'reject', LOG_LEVEL: 'warn' })
  t.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 503, 'still warming up when the page loads')
  await page.goto(`http://127.0.0.1:${port}/`)
  await pageReady(page)
  t.not(await state(page), 'open', 'not connected while the server warms up')
  await page.evaluate(() => (globalThis as unknown as { chat: { send: (s: string) => void } }).chat.send('typed while warming up'))
  const deadline = Date.now() + 15_000
  while (await state(page) !== 'open' && Date.now() < deadline) await sleep(50)
  t.equal(await state(page), 'open', 'connected once ready')
  await page.fill('#text', 'hello from chromium')
  await page.click('button')
  while ((await received(page)).length < 2 && Date.now() < deadline) await sleep(50)
  t.same(await received(page), ['typed while warming up', 'hello from chromium'], 'both messages made it, in order')
  const closes = await page.evaluate(() => (globalThis as unknown as { closes: number[] }).closes)
  t.ok(closes.length > 0 && closes.every((c) => c === 1006), `refused upgrades looked like 1006 to the browser, never 1011 (${closes.join(', ')})`)
})

t.test('messages typed in the browser during a restart all arrive, in order, once', { skip, timeout: 60_000 }, async (t) => {
  const port = await freePort()
  let server = await startChat(t, port, { WARMUP_MS: '300', GATE_MODE: 'reject', LOG_LEVEL: 'warn' })
  const page = await (await browser(t)).newPage()
  await page.goto(`http://127.0.0.1:${port}/`)
  await pageReady(page)
  const deadline = Date.now() + 20_000
  while (await state(page) !== 'open' && Date.now() < deadline) await sleep(50)
  // The page may load inside the cold start (startChat returns once the server listens, the gate opens
  // ~0.1-0.3 s later): its first attempts are then refused, 1006 in a browser, and closes[0] is one of those,
  // not the restart. The restart's close is the first one after the socket opened.
  const closesBefore = await closeCodes(page)
  await page.evaluate(() => (globalThis as unknown as { chat: { send: (s: string) => void } }).chat.send('before'))
  while ((await received(page)).length < 1 && Date.now() < deadline) await sleep(20)

  t.equal(await server.stop('SIGTERM'), 0, 'the server shut down cleanly')
  while (await state(page) === 'open' && Date.now() < deadline) await sleep(20)
  const typed = Array.from({ length: 10 }, (_, i) => `during restart ${i}`)
  for (const text of typed) {
    await page.evaluate((s) => (globalThis as unknown as { chat: { send: (s: string) => void } }).chat.send(s), text)
    await sleep(30)
  }
  server = await startChat(t, port, { WARMUP_MS: '800', GATE_MODE: 'reject', LOG_LEVEL: 'warn' })
  while ((await received(page)).length < 1 + typed.length && Date.now() < deadline) await sleep(50)
  await sleep(300)
  t.same(await received(page), ['before', ...typed], 'every message arrived, in order, exactly once')
  const all = await closeCodes(page)
  t.ok(closesBefore.every((c) => c === 1006), `attempts refused during the cold start, if any, were 1006 (${closesBefore.join(', ')})`)
  t.equal(all[closesBefore.length], 1012, `the restart was announced with 1012 (closes: ${all.join(', ')})`)
  t.notOk(all.includes(1011), 'never 1011')
  t.equal(await state(page), 'open')
})
