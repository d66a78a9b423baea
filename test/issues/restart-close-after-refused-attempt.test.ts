import t from 'tap'
import type { Page } from 'playwright-core'
import { browser, skipWithoutChromium } from '../helpers/browser.js'
import { sleep } from '../helpers/net.js'
import { startChat } from '../helpers/processes.js'
import { freePort } from '../helpers/servers.js'

// Issue 22: the browser restart test read closes[0] as the restart's close. When the page loaded inside the
// cold start (the server listens ~0.1-0.3 s before the gate opens), closes[0] was a refused attempt (503,
// which a browser reports as 1006) and the test failed although the restart itself was a clean 1012. Here
// the page always connects during a long warm-up, so that interleaving happens every run: refused attempts
// (1006), then open, then SIGTERM, whose close must still be 1012.

type Chat = { chat: { state: string, send: (s: string) => void }, closes: number[], received: string[] }
/** Runs `fn` in the page on its globals (the page's chat, closes and received). */
const page$ = async <T>(page: Page, fn: (g: Chat) => T): Promise<T> => await page.evaluate(`(${fn.toString()})(globalThis)`) as T

t.test('a page refused during the cold start still gets 1012 on the restart', { skip: skipWithoutChromium, timeout: 60_000 }, async (t) => {
  const port = await freePort()
  // The browser first, so the page loads as soon as the server listens: well inside the warm-up, which
  // is long because it runs from the store's creation and a loaded machine takes seconds to listen.
  const page = await (await browser(t)).newPage()
  const server = await startChat(t, port, { WARMUP_MS: '8000', GATE_MODE: 'reject', LOG_LEVEL: 'warn' })
  t.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 503, 'still warming up when the page loads')
  await page.goto(`http://127.0.0.1:${port}/`)
  await page.waitForFunction(() => (globalThis as unknown as Partial<Chat>).chat !== undefined, undefined, { timeout: 15_000 })
  const deadline = Date.now() + 30_000
  while (await page$(page, (g) => g.chat.state) !== 'open' && Date.now() < deadline) await sleep(50)
  t.equal(await page$(page, (g) => g.chat.state), 'open', 'connected once the gate opened')
  const refused = await page$(page, (g) => [...g.closes])
  t.ok(refused.length > 0 && refused.every((c) => c === 1006), `attempts during the warm-up were refused, 1006 in the browser (${refused.join(', ')})`)

  await page$(page, (g) => g.chat.send('before'))
  while ((await page$(page, (g) => g.received.length)) < 1 && Date.now() < deadline) await sleep(20)
  t.equal(await server.stop('SIGTERM'), 0, 'the server shut down cleanly')
  while (await page$(page, (g) => g.closes.length) === refused.length && Date.now() < deadline) await sleep(20)
  const closes = await page$(page, (g) => [...g.closes])
  t.equal(closes[refused.length], 1012, `the restart was announced with 1012 (closes: ${closes.join(', ')})`)
  t.not(closes[0], 1012, 'closes[0] is a refused attempt, not the restart: the index the old test read')
})
