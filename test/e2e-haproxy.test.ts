import t from 'tap'
import { chatUser } from './helpers/chat-user.js'
import { sleep, until } from './helpers/net.js'
import { missing, startChat, startHaproxy, type ChatProcess } from './helpers/processes.js'
import { freePort } from './helpers/servers.js'

const SERVER_ENV = { WARMUP_MS: '800', GATE_MODE: 'reject', DRAIN_DELAY_MS: '500', LOG_LEVEL: 'warn' }

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
