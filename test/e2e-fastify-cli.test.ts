import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { closed, connect } from './helpers/net.js'
import { FASTIFY_CLI, generateApp } from './fixtures/fastify-cli-app.js'

/**
 * Issue 25, with the real runners: fastify-cli's `fastify start` and the server.js its own `fastify eject`
 * writes, each running fastify-cli's generated app with the suite in plugins/ (test/fixtures/fastify-cli-app.ts).
 * Their close-with-grace calls app.close() on SIGTERM and exits as soon as it resolves: /health/ready and
 * /hello were refused 100 ms after SIGTERM, and the process was gone 23 ms after it. Now that close runs
 * the suite's sequence first: readiness 503 at once, /hello served through shutdown.delayMs, sockets 1012,
 * exit 0. Each runner with the one setting docs/runners.md gives: its force-exit delay raised to cover
 * shutdown.timeoutMs (10 s locally).
 */
const DELAY_MS = 2000

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)) })
  })
}

async function run (t: Test, dir: string, args: string[], env: Record<string, string>): Promise<void> {
  const port = await freePort()
  const clean = { ...process.env }
  // The runners as users run them: not under tap's loaders (NODE_OPTIONS), which add signal listeners of their own.
  for (const name of ['KUBERNETES_SERVICE_HOST', 'K_SERVICE', 'FASTIFY_CLOSE_GRACE_DELAY', 'NODE_OPTIONS']) delete clean[name]
  const child = spawn(process.execPath, args.map((a) => a.replace('$PORT', String(port))), { cwd: dir, env: { ...clean, PORT: String(port), SHUTDOWN_OPTS: JSON.stringify({ delayMs: DELAY_MS }), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const logs: Array<Record<string, unknown>> = []
  let pending = ''
  const waiters = new Set<() => void>()
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) { try { logs.push(JSON.parse(line) as Record<string, unknown>) } catch {} }
    for (const w of waiters) w()
  })
  let stderr = ''
  child.stderr.on('data', (c) => { stderr += String(c) })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); for (const w of waiters) w() }))
  t.teardown(async () => { if (child.exitCode === null) child.kill('SIGKILL'); await exited })
  const waitLog = async (test: (msg: string) => boolean): Promise<void> => await new Promise((resolve, reject) => {
    const check = (): void => {
      if (logs.some((l) => test(String(l.msg)))) { waiters.delete(check); resolve() } else if (child.exitCode !== null) { waiters.delete(check); reject(new Error(`exited ${child.exitCode}; stderr: ${stderr}`)) }
    }
    waiters.add(check)
    check()
  })
  await waitLog((m) => m.startsWith('Server listening at'))
  const base = `http://127.0.0.1:${port}`
  while ((await fetch(`${base}/health/ready`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(logs.filter((l) => Number(l.level) >= 40).map((l) => l.msg), [], 'started without a warning')
  const socket = await connect(`ws://127.0.0.1:${port}/chat`)
  if (socket.kind !== 'open') throw new Error(`should open: ${JSON.stringify(socket)}`)
  const socketClosed = closed(socket.ws)
  let socketCloseSeen = false
  void socketClosed.then(() => { socketCloseSeen = true })

  child.kill('SIGTERM')
  await waitLog((m) => m.startsWith('shutdown: readiness is 503'))
  t.equal((await fetch(`${base}/health/ready`)).status, 503, 'readiness 503 at once')
  const hello = await fetch(`${base}/hello`)
  t.equal(hello.status, 200, '/hello still served during the delay')
  t.same(await hello.json(), { hello: 'world' })
  t.notOk(socketCloseSeen, 'and the socket is still open then')
  t.equal((await socketClosed).code, 1012, 'the socket got 1012')
  t.equal(await exited, 0, 'exit 0')
  // close-with-grace exits 0 as soon as app.close() resolves, which is after the drain and Fastify's close.
  t.ok(logs.some((l) => String(l.msg).startsWith('shutdown: readiness is 503; serving on')), 'the sequence served through its delay')
  t.notOk(logs.some((l) => /killed by timeout|shutdown timed out/.test(String(l.msg))) || /killed by timeout/.test(stderr), 'no force-exit, no timeout')
}

t.test('fastify start -g 10000: the platform contract holds under fastify-cli\'s close-with-grace', async (t) => {
  const dir = generateApp(t)
  await run(t, dir, [FASTIFY_CLI, 'start', '-l', 'info', '-a', '127.0.0.1', '-p', '$PORT', '-g', '10000', 'app.js'], {})
})

t.test('fastify-cli\'s ejected server.js, unchanged, with FASTIFY_CLOSE_GRACE_DELAY set: the contract holds', async (t) => {
  const dir = generateApp(t)
  await run(t, dir, [join(dir, 'server.js')], { FASTIFY_CLOSE_GRACE_DELAY: '10000' })
})

t.test('fastify start with its default 500 ms force-exit: a warning at start names fastify-cli and the fix', async (t) => {
  const dir = generateApp(t)
  const port = await freePort()
  const clean = { ...process.env }
  for (const name of ['KUBERNETES_SERVICE_HOST', 'K_SERVICE', 'FASTIFY_CLOSE_GRACE_DELAY', 'NODE_OPTIONS']) delete clean[name]
  const child = spawn(process.execPath, [FASTIFY_CLI, 'start', '-l', 'info', '-a', '127.0.0.1', '-p', String(port), 'app.js'], { cwd: dir, env: { ...clean, SHUTDOWN_OPTS: JSON.stringify({ delayMs: DELAY_MS }) }, stdio: ['ignore', 'pipe', 'ignore'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => { if (child.exitCode === null) child.kill('SIGKILL'); await exited })
  let out = ''
  child.stdout.setEncoding('utf8')
  const warning = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      out += chunk
      const line = out.split('\n').find((l) => l.includes('force-exits'))
      if (line !== undefined) resolve((JSON.parse(line) as { msg: string }).msg)
    })
    child.once('exit', (code) => reject(new Error(`exited ${code} before the warning`)))
  })
  t.match(warning, /fastify-cli's `fastify start` also handles SIGTERM/, 'names the other listener')
  t.match(warning, /force-exits 500 ms after the signal/)
  t.match(warning, /fastify start -g 10000/, 'and the exact fix')
})
