import t from 'tap'
import WebSocket from 'ws'
import { ReadinessClient, type WebSocketConstructor } from '../lib/client/index.js'
import { sleep, until } from './helpers/net.js'
import { missing, startChat, startHaproxy, type ChatProcess } from './helpers/processes.js'
import { freePort } from './helpers/servers.js'

const SERVER_ENV = { WARMUP_MS: '800', GATE_MODE: 'reject', DRAIN_DELAY_MS: '500', LOG_LEVEL: 'warn' }

/** A chat user: sends a numbered message every `everyMs`, resends what was not acknowledged after a reconnect. */
function chatUser (id: string, url: string, everyMs: number) {
  const client = new ReadinessClient(url, { WebSocket: WebSocket as unknown as WebSocketConstructor, backoff: { initialMs: 100, maxMs: 1000 } })
  const pending = new Set<string>()
  const acked = new Set<string>()
  const ackedBy = new Set<number>()
  const closeCodes: number[] = []
  const refusals: number[] = []
  let sent = 0
  client.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { text: string, pid: number }
    if (pending.delete(frame.text)) { acked.add(frame.text); ackedBy.add(frame.pid) }
  })
  client.on('close', ({ code }) => closeCodes.push(code))
  client.on('refused', ({ status }) => refusals.push(status))
  // At-least-once: whatever was sent but not seen acknowledged goes again on a new connection.
  client.on('open', () => { for (const text of pending) client.send(text) })
  const timer = everyMs > 0 ? setInterval(() => send(), everyMs) : null
  function send (): void {
    const text = `${id}-${sent++}`
    pending.add(text)
    client.send(text)
  }
  return {
    client, pending, acked, ackedBy, closeCodes, refusals, send,
    stop () { if (timer !== null) clearInterval(timer) }
  }
}

t.test('a rolling restart behind HAProxy: no 1011, every client gets in, no acknowledged message lost',
  { skip: missing('haproxy'), timeout: 120_000 }, async (t) => {
    const [pa, pb, ph] = [await freePort(), await freePort(), await freePort()]
    const servers: Record<'a' | 'b', ChatProcess> = {
      a: await startChat(t, pa, SERVER_ENV),
      b: await startChat(t, pb, SERVER_ENV)
    }
    await startHaproxy(t, ph, [{ name: 'a', port: pa }, { name: 'b', port: pb }])
    const ready = async (port: number): Promise<void> => {
      while ((await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.status, () => 0)) !== 200) await sleep(50)
    }
    await ready(pa)
    await ready(pb)
    await sleep(400) // HAProxy's checks see both up

    const url = `ws://127.0.0.1:${ph}/chat/lobby`
    const users = Array.from({ length: 20 }, (_, i) => chatUser(`user${i}`, url, 150))
    await until(() => users.every((u) => u.client.state === 'open'), 10_000)

    // Fresh connections keep arriving through the restart: each must get in and be acknowledged.
    const arrivals: Array<ReturnType<typeof chatUser>> = []
    let arriving = true
    const arrivalLoop = (async () => {
      while (arriving) {
        const user = chatUser(`new${arrivals.length}`, url, 0)
        user.send()
        arrivals.push(user)
        await sleep(100)
      }
    })()

    for (const name of ['a', 'b'] as const) {
      const port = name === 'a' ? pa : pb
      const code = await servers[name].stop('SIGTERM')
      t.equal(code, 0, `${name} shut down cleanly on SIGTERM`)
      servers[name] = await startChat(t, port, SERVER_ENV) // a cold start of its own
      await ready(port)
      await sleep(400)
    }
    arriving = false
    await arrivalLoop

    const everyone = [...users, ...arrivals]
    await until(() => everyone.every((u) => u.pending.size === 0), 15_000).catch(() => {})
    for (const u of everyone) u.stop()

    const codes = everyone.flatMap((u) => u.closeCodes)
    t.notOk(codes.includes(1011), 'no client ever saw 1011')
    t.ok(codes.includes(1012), 'clients on a restarting instance were told 1012 (Service Restart)')
    t.same([...new Set(codes)].filter((c) => ![1012, 1001, 1006].includes(c)), [], `only restart/going-away/refused closes (${[...new Set(codes)].join(', ')})`)
    t.ok(users.every((u) => u.client.state === 'open'), 'every long-lived client is connected at the end')
    t.ok(users.every((u) => u.ackedBy.size >= 2), 'and each was served by more than one instance: they moved')
    const notIn = arrivals.filter((u) => u.acked.size === 0)
    t.equal(notIn.length, 0, `every one of ${arrivals.length} arriving clients got in and was acknowledged`)
    const lost = everyone.reduce((n, u) => n + u.pending.size, 0)
    const total = everyone.reduce((n, u) => n + u.acked.size, 0)
    t.equal(lost, 0, `no message lost: ${total} sent, all acknowledged`)
    t.comment(`503 refusals seen (and retried): ${everyone.reduce((n, u) => n + u.refusals.length, 0)}`)
    for (const u of everyone) u.client.close()
  })
