// Rolling update of four instances behind HAProxy (issue 26): how many times each delivery client is moved to
// another instance. Kubernetes' default (maxSurge 1, maxUnavailable 0): start a new instance, add it to HAProxy
// through the runtime API, take one old one out and SIGTERM it (the suite drains with 1012), wait until it is
// gone, four times. Moves are counted from the server side (each instance logs every connection with the
// client's number) and compared across balance algorithms and drain settings; messages both ways are counted
// at both ends (lost / duplicated). Loopback only; the shared Redis on 6379 under a private prefix, deleted at
// the end. Run alone: node bench/rolling-update.js (after npm run build; BENCH_QUICK=1 for 100 clients).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect as unixConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SELF = fileURLToPath(import.meta.url)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const QUICK = process.env.BENCH_QUICK === '1'
const CLIENTS = Number(process.env.ROLLING_CLIENTS ?? (QUICK ? 100 : 200))
const INSTANCES = 4
const SEND_EVERY_MS = 1000
const DEBUG = process.env.ROLLING_DEBUG === '1'
const ONLY = process.env.ROLLING_ONLY // one configuration's key, when tuning
const PREFIX = `fastify-readiness:bench:rolling:${process.pid}:`

// ------------------------------------------------------------------ one instance (child process)
async function instance () {
  const { default: Fastify } = await import('fastify')
  const { default: websocket } = await import('@fastify/websocket')
  const { Redis } = await import('ioredis')
  const { default: readiness, withDelivery, redisDedupe } = await import('../dist/index.js')
  const { redisOutbox } = await import('../dist/lib/delivery/index.js')
  const name = process.env.ROLLING_NAME
  const spread = process.env.ROLLING_SPREAD
  const redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 2 })
  const store = redisDedupe(redis, { prefix: process.env.ROLLING_PREFIX, ttlMs: 120_000 })
  const outbox = redisOutbox(redis, { prefix: process.env.ROLLING_PREFIX })
  const app = Fastify({ logger: false })
  await app.register(websocket)
  await app.register(readiness, {
    websocket: spread === 'default' ? {} : { drainSpreadMs: Number(spread) },
    // HAProxy's check (inter 100 ms, fall 1) sees the 503 well within the delay, before the closes begin.
    shutdown: { delayMs: 400, timeoutMs: 20_000 }
  })
  app.addHook('onClose', async () => { await store.idle?.(5000); await redis.quit() })
  const log = (line) => process.stdout.write(`${line}\n`)
  app.get('/chat', { websocket: true }, (socket, request) => {
    log(`C ${Number(request.query.c)} ${name} ${Date.now()}`) // the server-side view of who is where
    const session = withDelivery(socket, async (text, ctx) => {
      if (ctx === null) return
      log(`D ${text}`)
      session.send(`${text}.r`)
      log(`S ${text}.r`)
    }, { store, outbox, onError: (err) => process.stderr.write(`delivery error: ${String(err)}\n`) })
  })
  // An orphan (the bench died) does not outlive it: stdin closes with the parent.
  process.stdin.on('end', () => process.exit(1)).resume()
  await app.listen({ port: 0, host: '127.0.0.1' })
  log(JSON.stringify({ port: app.server.address().port }))
}

// ------------------------------------------------------------------ processes the bench owns
const owned = new Set()
process.once('exit', () => { for (const child of owned) child.kill('SIGKILL') })
function own (child) {
  owned.add(child)
  child.once('exit', () => owned.delete(child))
  return child
}
async function killAll () {
  await Promise.all([...owned].map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', resolve)
    child.kill('SIGKILL')
  })))
}

async function freePort () {
  return await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

/** Starts an instance; `log` gets every stdout line. Resolves with its port once it listens. */
function startInstance (name, spread, log) {
  const child = own(spawn(process.execPath, [SELF, '--instance'], {
    env: { ...process.env, ROLLING_NAME: name, ROLLING_SPREAD: String(spread), ROLLING_PREFIX: PREFIX },
    stdio: ['pipe', 'pipe', 'pipe']
  }))
  let stderr = ''
  child.stderr.on('data', (c) => { stderr += String(c) })
  // 'close', not 'exit': every line it wrote has been read by then.
  const exited = new Promise((resolve) => child.once('close', (code) => resolve(code)))
  const port = new Promise((resolve, reject) => {
    let pending = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop()
      for (const line of lines) {
        if (line.startsWith('{"port"')) resolve(JSON.parse(line).port)
        else log(line)
      }
    })
    void exited.then((code) => reject(new Error(`instance ${name} exited with ${code}: ${stderr.slice(0, 300)}`)))
  })
  return { name, child, port, exited, stderr: () => stderr }
}

/** HAProxy with an admin socket; the backend starts with the given servers, more are added at run time. */
async function startHaproxy (dir, port, balance, servers) {
  const socket = join(dir, 'admin.sock')
  writeFileSync(join(dir, 'haproxy.cfg'), `global
  maxconn 4096
  stats socket ${socket} level admin

defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  # Without it a check times out after inter (100 ms): a fresh instance absorbing a drained herd answers late,
  # is taken out (fall 1) and the rest of the herd lands on old instances, to be moved again (seen under load).
  timeout check 1s
  option redispatch
  retries 3

frontend chat
  bind 127.0.0.1:${port}
  default_backend chat

backend chat
  balance ${balance}
  option httpchk GET /health/ready
  http-check expect status 200
${servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} ${SERVER_ARGS}`).join('\n')}
`)
  const child = own(spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] }))
  let stderr = ''
  child.stderr.on('data', (c) => { stderr += String(c) })
  const command = (line) => new Promise((resolve, reject) => {
    const conn = unixConnect(socket)
    let out = ''
    conn.setEncoding('utf8')
    conn.on('data', (c) => { out += c })
    conn.on('error', reject)
    conn.on('close', () => resolve(out.trim()))
    conn.end(`${line}\n`)
  })
  for (let i = 0; ; i++) {
    if (await command('show info').then((out) => out.includes('Name: HAProxy'), () => false)) break
    if (i > 200 || child.exitCode !== null) throw new Error(`haproxy did not start: ${stderr}`)
    await sleep(50)
  }
  command.stderr = () => stderr
  return command
}
// Dynamic servers do not inherit default-server: the same arguments for both.
const SERVER_ARGS = 'check inter 100ms fall 1 rise 1'

/** The status column of `show stat` for one server (UP, DOWN, MAINT, ...). */
async function status (command, name) {
  const line = (await command('show stat')).split('\n').find((l) => l.startsWith(`chat,${name},`))
  return line?.split(',')[17] ?? 'absent'
}

async function until (predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`rolling update: ${what} within ${timeoutMs} ms`)
    await sleep(20)
  }
}

// ------------------------------------------------------------------ one rolling update
/**
 * One rolling update with a balance algorithm, a drain spread ('default' = the suite's, 1 s capped at 2 ms per
 * socket) and a surge (1: Kubernetes' default; 4: every new instance first, then every old one at once).
 */
async function scenario ({ balance, spread, surge }) {
  const { default: WebSocket } = await import('ws')
  const { ReadinessClient } = await import('../dist/lib/client/index.js')
  const dir = mkdtempSync(join(tmpdir(), 'readiness-rolling-'))
  const connections = Array.from({ length: CLIENTS }, () => []) // per client: [{ instance, at }]
  const handled = new Map()
  const serverSent = new Map()
  const bump = (map, key) => map.set(key, (map.get(key) ?? 0) + 1)
  const log = (line) => {
    const [kind, a, b, c] = line.split(' ')
    if (kind === 'C') connections[Number(a)]?.push({ instance: b, at: Number(c) })
    if (kind === 'D') bump(handled, a)
    if (kind === 'S') bump(serverSent, a)
  }
  const clients = []
  try {
    let generation = 0
    const launch = async (prefix) => {
      const i = startInstance(`${prefix}${generation++}`, spread, log)
      i.portNumber = await i.port
      return i
    }
    let live = await Promise.all(Array.from({ length: INSTANCES }, () => launch('old')))
    const proxyPort = await freePort()
    const command = await startHaproxy(dir, proxyPort, balance, live.map((i) => ({ name: i.name, port: i.portNumber })))
    const up = (i) => until(async () => (await status(command, i.name)) === 'UP', 15_000, `${i.name} UP in HAProxy`)
    for (const i of live) await up(i)

    for (let c = 0; c < CLIENTS; c++) {
      const client = new ReadinessClient(`ws://127.0.0.1:${proxyPort}/chat?c=${c}`, { WebSocket, delivery: true, maxBuffered: 1000 })
      const user = { client, texts: [], got: new Map(), opens: 0, gaps: 0, dropped: 0, k: 0, start: null, timer: null }
      client.on('open', () => { user.opens++ })
      client.on('message', (m) => bump(user.got, String(m)))
      client.on('resumeFailed', () => { user.gaps++ })
      client.on('dropped', () => { user.dropped++ })
      // Staggered: one message a second per client, 200 clients spread over the second.
      user.start = setTimeout(() => {
        user.timer = setInterval(() => { const text = `c${c}-${++user.k}`; if (client.send(text)) user.texts.push(text) }, SEND_EVERY_MS)
      }, (c * SEND_EVERY_MS) / CLIENTS)
      clients.push(user)
      if (c % 50 === 49) await sleep(50) // no herd at setup
    }
    await until(() => clients.every((u) => u.client.state === 'open'), 20_000, 'every client open')
    await until(() => connections.every((l) => l.length >= 1), 5000, 'every connection logged')
    await sleep(1000)

    const started = Date.now()
    const retire = async (olds) => {
      if (DEBUG) console.error((await command('show stat')).split('\n').filter((l) => l.startsWith('chat,')).map((l) => { const f = l.split(','); return `${f[1]} scur ${f[4]} ${f[17]} w ${f[18]}` }).join('; '))
      for (const o of olds) await command(`disable server chat/${o.name}`) // the endpoints controller takes it out
      for (const o of olds) o.child.kill('SIGTERM')
      const codes = await Promise.all(olds.map((o) => o.exited))
      if (codes.some((code) => code !== 0)) throw new Error(`a drained instance exited with ${codes.join(', ')}`)
      for (const o of olds) await command(`del server chat/${o.name}`)
      const gone = new Set(olds.map((o) => o.name))
      // Every client back, on a live instance.
      await until(() => clients.every((u) => u.client.state === 'open') && connections.every((l) => !gone.has(l.at(-1).instance)), 20_000, 'every drained client back')
      live = live.filter((i) => !gone.has(i.name))
      if (DEBUG) console.error('after', [...gone].join(','), JSON.stringify(spreadOf(connections)))
    }
    const add = async (count) => {
      const fresh = await Promise.all(Array.from({ length: count }, () => launch('new')))
      for (const n of fresh) {
        await command(`add server chat/${n.name} 127.0.0.1:${n.portNumber} ${SERVER_ARGS}`)
        await command(`enable health chat/${n.name}`)
        await command(`enable server chat/${n.name}`)
      }
      for (const n of fresh) await up(n)
      live.push(...fresh)
    }
    const olds = [...live]
    if (surge >= INSTANCES) {
      await add(INSTANCES)
      await retire(olds)
    } else {
      for (const old of olds) {
        await add(1)
        await retire([old])
      }
    }
    const rolledMs = Date.now() - started
    if (DEBUG) console.error(command.stderr().split('\n').filter((l) => /DOWN|UP/.test(l)).join('\n'))
    // A serving instance its check took out (a timeout, not the maintenance the update puts it in).
    const flaps = command.stderr().split('\n').filter((l) => /is DOWN, reason/.test(l)).length

    await sleep(1000)
    for (const u of clients) { clearTimeout(u.start); clearInterval(u.timer) }
    await until(() => clients.every((u) => u.client.buffered === 0 && u.texts.every((t) => u.got.has(`${t}.r`))), 20_000, 'every message acked and answered').catch(() => {})
    await sleep(300) // a straggler repeat would show up here
    return { ...count(clients, connections, handled, serverSent), rolledMs, flaps }
  } finally {
    for (const u of clients) { clearTimeout(u.start); clearInterval(u.timer); u.client.close() }
    await killAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** How many clients each instance holds (their latest connection). */
function spreadOf (connections) {
  const by = {}
  for (const l of connections) { const at = l.at(-1)?.instance; by[at] = (by[at] ?? 0) + 1 }
  return by
}

/** Moves per client (consecutive connections on different instances), and messages both ways. */
function count (clients, connections, handled, serverSent) {
  const moves = connections.map((list) => {
    const sorted = [...list].sort((a, b) => a.at - b.at)
    let n = 0
    for (let j = 1; j < sorted.length; j++) if (sorted[j].instance !== sorted[j - 1].instance) n++
    return n
  })
  const reconnects = clients.reduce((n, u) => n + u.opens - 1, 0)
  let sent = 0; let lost = 0; let duplicated = 0; let replyLost = 0; let replyDuplicated = 0; let gaps = 0; let dropped = 0
  let serverSends = 0
  for (const n of serverSent.values()) serverSends += n
  for (const u of clients) {
    sent += u.texts.length
    gaps += u.gaps
    dropped += u.dropped
    for (const t of u.texts) {
      const n = handled.get(t) ?? 0
      if (n === 0) lost++
      if (n > 1) duplicated += n - 1
      const r = u.got.get(`${t}.r`) ?? 0
      if (r === 0) replyLost++
      if (r > 1) replyDuplicated += r - 1
    }
  }
  return { moves, reconnects, sent, lost, duplicated, serverSends, replyLost, replyDuplicated, gaps, dropped }
}

function distribution (moves) {
  const bins = [0, 0, 0, 0]
  for (const m of moves) bins[Math.min(m, 3)]++
  const mean = moves.reduce((a, b) => a + b, 0) / moves.length
  return { bins, mean, once: bins[1] / moves.length, text: `0: ${bins[0]}, 1: ${bins[1]}, 2: ${bins[2]}, 3+: ${bins[3]}; mean ${mean.toFixed(2)}` }
}

const CONFIGS = [
  { key: 'roundrobin', label: 'balance roundrobin, maxSurge 1 (the default), drain spread default (1 s, at most 2 ms per socket)', balance: 'roundrobin', spread: 'default', surge: 1 },
  { key: 'leastconn', label: 'balance leastconn, maxSurge 1, drain spread default (1 s, at most 2 ms per socket)', balance: 'leastconn', spread: 'default', surge: 1, recommended: true },
  { key: 'leastconn-nospread', label: 'balance leastconn, maxSurge 1, drainSpreadMs 0 (all closes at once)', balance: 'leastconn', spread: 0, surge: 1 },
  { key: 'roundrobin-surge', label: 'balance roundrobin, maxSurge 100% (4 new first, then the 4 old at once)', balance: 'roundrobin', spread: 'default', surge: INSTANCES }
]

export async function rollingUpdate () {
  try {
    return await configurations()
  } finally {
    const { Redis } = await import('ioredis')
    const redis = new Redis({ host: '127.0.0.1', port: 6379 })
    const keys = await redis.keys(`${PREFIX}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  }
}

async function configurations () {
  const rows = []
  for (const config of CONFIGS) {
    if (ONLY !== undefined && config.key !== ONLY) continue
    let r
    try {
      r = await scenario(config)
    } catch (err) {
      rows.push({ measure: `rolling update, ${config.label}`, result: `not run: ${String(err.message).split('\n')[0].slice(0, 200)}`, target: 'runs', met: false })
      continue
    }
    const d = distribution(r.moves)
    const clean = r.lost === 0 && r.duplicated === 0 && r.replyLost === 0 && r.replyDuplicated === 0 && r.gaps === 0 && r.dropped === 0
    const messages = `messages ${r.sent} in (lost ${r.lost}, duplicated ${r.duplicated}), ${r.serverSends} out (lost ${r.replyLost}, duplicated ${r.replyDuplicated}, resumeFailed ${r.gaps})`
    rows.push({
      measure: `rolling update of ${INSTANCES} instances behind HAProxy, ${CLIENTS} delivery clients, ${config.label}: moves per client`,
      result: `${d.text} (${(d.once * 100).toFixed(0)}% exactly once; ${r.reconnects} reconnects; update ${(r.rolledMs / 1000).toFixed(1)} s; checks that took a serving instance out: ${r.flaps}); ${messages}`,
      // Every client starts on an old instance, so one move each is the floor.
      target: config.recommended ? '>= 90% of clients moved exactly once (the floor is one each: every client starts on an old instance), 0 lost / 0 duplicated both ways' : 'reported; 0 lost / 0 duplicated both ways',
      met: clean && (!config.recommended || d.once >= 0.9),
      moves: d
    })
  }
  return rows.map(({ moves, ...row }) => row)
}

if (process.argv.includes('--instance')) {
  await instance()
} else if (process.argv[1] === SELF) {
  for (const row of await rollingUpdate()) console.log(`${row.measure}: ${row.result} [target ${row.target}: ${row.met ? 'met' : 'MISSED'}]`)
}
