import t from 'tap'
import { Writable } from 'node:stream'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyPluginAsync } from 'fastify'
import { generateApp } from '../fixtures/fastify-cli-app.js'

/**
 * Issue 25: the autoload layout exactly as docs/configuration.md describes it (fastify-cli's generated app,
 * plugins/readiness.js and plugins/websocket.js wrapped in fastify-plugin, routes/) logged at every start
 * that the suite "is registered inside the encapsulated plugin "app" ... Wrap that plugin with
 * fastify-plugin": app.js is registered unwrapped by `fastify start` and by the standard server.js, and
 * the whole app lives in it. It now starts quiet; a suite that really is encapsulated still warns.
 */
async function start (dir: string): Promise<{ lines: Array<{ level: number, msg: string }>, close: () => Promise<void> }> {
  const lines: Array<{ level: number, msg: string }> = []
  const stream = new Writable({ write (chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as { level: number, msg: string }); done() } })
  // As the generated server.js does: the app's app.js registered as a plain plugin.
  const app = Fastify({ logger: { level: 'info', stream } })
  const { default: appService } = await import(pathToFileURL(join(dir, 'app.js')).href) as { default: FastifyPluginAsync }
  await app.register(appService)
  await app.ready()
  return { lines, close: async () => { await app.close() } }
}

t.test('fastify-cli\'s generated app with the documented autoload layout starts without the encapsulation warning', async (t) => {
  const { lines, close } = await start(generateApp(t))
  t.teardown(close)
  t.same(lines.filter((l) => l.level >= 40).map((l) => l.msg), [], 'no warning at start')
})

t.test('the suite in plugins/ without fastify-plugin (encapsulated, beside the routes) still warns', async (t) => {
  const { lines, close } = await start(generateApp(t, { wrapSuite: false }))
  t.teardown(close)
  const warned = lines.filter((l) => /registered inside the encapsulated plugin/.test(l.msg))
  t.equal(warned.length, 1, 'one warning')
  t.match(warned[0]?.msg, /Wrap that plugin with fastify-plugin/)
})
