import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import WebSocket from 'ws'
import { FASTIFY_CLI, generateApp } from './fixtures/fastify-cli-app.js'
import { kubeProxy } from './helpers/kube-proxy.js'
import { sleep, until } from './helpers/net.js'
import { missing } from './helpers/processes.js'
import { freePort } from './helpers/servers.js'

/*
 * Issue 25's done-criterion: test/e2e-rolling-update.test.ts's rolling update (maxSurge 1, maxUnavailable 0,
 * HAProxy as kube-proxy, the endpoint removed ENDPOINT_LAG_MS after SIGTERM), with the pods run by fastify-cli
 * instead of the suite's own signal handling: (a) `fastify start -g`, (b) the ejected server.js, unchanged,
 * with FASTIFY_CLOSE_GRACE_DELAY, each the force-exit docs/runners.md gives: at least shutdown.timeoutMs
 * (grace 10 s minus 10% = 9,000 ms here) and below the grace period. Each pod is fastify-cli's generated app
 * with the suite (test/fixtures/fastify-cli-app.ts): GET /hello, and /chat, a WebSocket echo.
 */
const ENDPOINT_LAG_MS = 1000
const DELAY_MS = 2500
const GRACE_SECONDS = 10
const FORCE_EXIT_MS = '9500'

interface Pod { name: string, exited: Promise<number | null>, kill: (signal: NodeJS.Signals) => void, warnings: string[] }

/** A pod as users run the runner: not under tap's loaders (NODE_OPTIONS), on Kubernetes (the platform defaults). */
function spawnPod (t: Test, dir: string, args: string[], port: number, env: Record<string, string>): Omit<Pod, 'name'> {
  const clean = { ...process.env }
  for (const name of ['KUBERNETES_SERVICE_HOST', 'K_SERVICE', 'FASTIFY_CLOSE_GRACE_DELAY', 'NODE_OPTIONS']) delete clean[name]
  const child = spawn(process.execPath, args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...clean,
      ...env,
      PORT: String(port),
      KUBERNETES_SERVICE_HOST: '127.0.0.1', // the platform detection; nothing connects to it
      READINESS_SHUTDOWN_DELAY_MS: String(DELAY_MS),
      READINESS_GRACE_PERIOD_SECONDS: String(GRACE_SECONDS),
      SHUTDOWN_OPTS: '{}'
    }
  })
  const warnings: string[] = []
  let pending = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) {
      try {
        const log = JSON.parse(line) as { level: number, msg: string }
        if (log.level >= 40) warnings.push(log.msg)
      } catch {}
    }
  })
  child.stderr.on('data', (c) => { warnings.push(String(c)) })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(async () => { if (child.exitCode === null) child.kill('SIGKILL'); await exited })
  return { exited, kill: (signal) => child.kill(signal), warnings }
}

/** A WebSocket user: sends a numbered message every 100 ms, reconnects at once on close, resends what was not echoed. */
function wsUser (id: string, url: string) {
  const pending = new Set<string>()
  const closeCodes: number[] = []
  const refusals: string[] = []
  let echoed = 0
  let sent = 0
  let resent = 0
  let stopped = false
  let ws: WebSocket
  const open = (): void => {
    ws = new WebSocket(url)
    ws.on('open', () => { for (const text of pending) { resent++; ws.send(text) } })
    ws.on('message', (data) => { if (pending.delete(String(data))) echoed++ })
    ws.on('unexpected-response', (_req, res) => { refusals.push(`status ${res.statusCode ?? 0}`); res.resume() })
    ws.on('error', (err) => { refusals.push(err.message) })
    ws.on('close', (code) => {
      if (stopped) return
      closeCodes.push(code)
      open()
    })
  }
  open()
  const timer = setInterval(() => {
    const text = `${id}-${sent++}`
    pending.add(text)
    if (ws.readyState === WebSocket.OPEN) ws.send(text)
  }, 100)
  return {
    pending,
    closeCodes,
    refusals,
    get echoed () { return echoed },
    get resent () { return resent },
    get open () { return ws.readyState === WebSocket.OPEN },
    stop () { clearInterval(timer) },
    close () { stopped = true; ws.close() }
  }
}

async function rollingUpdate (t: Test, runner: (dir: string, port: number) => { args: string[], env: Record<string, string> }): Promise<void> {
  const dir = generateApp(t)
  const servicePort = await freePort()
  const api = await kubeProxy(t, servicePort)
  let podCount = 0

  /** Starts a pod and adds it to the endpoints once its readiness probe passes (every 100 ms). */
  async function startPod (): Promise<Pod> {
    const name = `pod${podCount++}`
    const port = await freePort()
    const { args, env } = runner(dir, port)
    const pod = { name, ...spawnPod(t, dir, args, port, env) }
    let exitCode: number | null | undefined
    void pod.exited.then((code) => { exitCode = code })
    while ((await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.status, () => 0)) !== 200) {
      if (exitCode !== undefined) throw new Error(`${name} exited ${exitCode} before ready: ${pod.warnings.join('; ')}`)
      await sleep(100)
    }
    t.equal(await api(`add server endpoints/${name} 127.0.0.1:${port}`), 'New server registered.', `${name} added to the endpoints once ready`)
    await api(`enable server endpoints/${name}`)
    return pod
  }

  /** SIGTERM, and the endpoint removed ENDPOINT_LAG_MS later; resolves with the exit code and time. */
  async function terminatePod (pod: Pod): Promise<{ code: number | null, ms: number }> {
    const signalled = Date.now()
    pod.kill('SIGTERM')
    await sleep(ENDPOINT_LAG_MS)
    await api(`set server endpoints/${pod.name} state maint`)
    const code = await pod.exited
    return { code, ms: Date.now() - signalled }
  }

  let pods = [await startPod(), await startPod()]
  const service = `127.0.0.1:${servicePort}`
  const all = [...pods]

  const requests = { ok: 0, failed: [] as string[] }
  let running = true
  const httpLoop = async (): Promise<void> => {
    while (running) {
      try {
        const res = await fetch(`http://${service}/hello`)
        await res.arrayBuffer()
        if (res.status === 200) requests.ok++
        else requests.failed.push(`status ${res.status}`)
      } catch (err) {
        requests.failed.push(String((err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : err))
      }
      await sleep(10)
    }
  }
  const httpLoops = [httpLoop(), httpLoop(), httpLoop()]
  const users = Array.from({ length: 12 }, (_, i) => wsUser(`user${i}`, `ws://${service}/chat`))
  // A failed assertion or a pod that cannot start must not leave the clients running (and the file hanging).
  t.teardown(() => { running = false; for (const u of users) { u.stop(); u.close() } })
  await until(() => users.every((u) => u.open), 10_000)
  await sleep(300)

  const exits: Array<{ code: number | null, ms: number }> = []
  for (let i = 0; i < 2; i++) {
    const fresh = await startPod()
    all.push(fresh)
    const old = pods[0]!
    pods = [...pods.slice(1), fresh]
    exits.push(await terminatePod(old))
  }
  await sleep(500)
  running = false
  await Promise.all(httpLoops)
  for (const u of users) u.stop()
  await until(() => users.every((u) => u.pending.size === 0), 10_000).catch(() => {})

  for (const [i, exit] of exits.entries()) {
    t.equal(exit.code, 0, `old pod ${i} exited 0`)
    t.ok(exit.ms < GRACE_SECONDS * 1000, `${exit.ms} ms after SIGTERM: inside its ${GRACE_SECONDS} s grace period (delay ${DELAY_MS} ms)`)
    t.ok(exit.ms >= DELAY_MS, 'and not before its serving delay ended')
  }
  t.same(all.flatMap((p) => p.warnings), [], 'no pod logged a warning or wrote to stderr')
  t.equal(requests.failed.length, 0, `0 of ${requests.ok + requests.failed.length} HTTP requests failed (${[...new Set(requests.failed)].join(', ')})`)
  const codes = users.flatMap((u) => u.closeCodes)
  t.same(codes.filter((c) => c !== 1012 && c !== 1001), [], `every close was a 1012/1001 drain (${codes.length} closes: ${[...new Set(codes)].join(', ')})`)
  t.ok(codes.length >= users.length, 'the users on the old pods were drained and moved')
  t.same(users.flatMap((u) => u.refusals), [], '0 refused upgrades')
  t.ok(users.every((u) => u.open), 'every user is connected at the end')
  const lost = users.reduce((n, u) => n + u.pending.size, 0)
  const echoed = users.reduce((n, u) => n + u.echoed, 0)
  const resent = users.reduce((n, u) => n + u.resent, 0)
  t.equal(lost, 0, `0 messages lost: ${echoed} echoed`)
  t.comment(`figures: ${requests.ok} HTTP requests ok, ${requests.failed.length} failed; ${codes.length} WebSocket drains (${[...new Set(codes)].join(', ')}); ` +
    `${resent} messages resent after a drain; old pods exited after ${exits.map((e) => `${e.ms} ms`).join(', ')}`)
}

t.test(`rolling update, pods run by \`fastify start -g ${FORCE_EXIT_MS}\`: no failed request, no refused upgrade, every old pod exits 0 in time`,
  { skip: missing('haproxy'), timeout: 90_000 }, async (t) => {
    await rollingUpdate(t, (_dir, port) => ({ args: [FASTIFY_CLI, 'start', '-l', 'warn', '-a', '127.0.0.1', '-p', String(port), '-g', FORCE_EXIT_MS, 'app.js'], env: {} }))
  })

t.test(`rolling update, pods run by fastify-cli's ejected server.js, unchanged, FASTIFY_CLOSE_GRACE_DELAY=${FORCE_EXIT_MS}: the same`,
  { skip: missing('haproxy'), timeout: 90_000 }, async (t) => {
    await rollingUpdate(t, (dir) => ({ args: [join(dir, 'server.js')], env: { FASTIFY_CLOSE_GRACE_DELAY: FORCE_EXIT_MS } }))
  })
