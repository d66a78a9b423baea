import t from 'tap'
import { chatUser } from './helpers/chat-user.js'
import { kubeProxy } from './helpers/kube-proxy.js'
import { sleep, until } from './helpers/net.js'
import { missing, startChat, type ChatProcess } from './helpers/processes.js'
import { freePort } from './helpers/servers.js'

/*
 * A Kubernetes rolling update (maxSurge 1, maxUnavailable 0), played with real processes:
 * - HAProxy in TCP mode is kube-proxy: layer 4, no health checks, no retries of its own. A connection
 *   goes to whatever endpoints it was told about; established connections stay where they are.
 * - This test is the endpoints controller, through HAProxy's runtime API: it adds a new pod once its
 *   readiness probe (/health/ready) passes, and removes an old pod ENDPOINT_LAG_MS after that pod got
 *   SIGTERM: the propagation delay the serving delay exists for.
 * - The pods are the example chat server with the suite's defaults on Kubernetes (KUBERNETES_SERVICE_HOST
 *   set), the serving delay shortened by the operator's env variable to keep the test in seconds.
 */
const ENDPOINT_LAG_MS = 1000
const DELAY_MS = 2500
const GRACE_SECONDS = 10
const POD_ENV = {
  KUBERNETES_SERVICE_HOST: '127.0.0.1', // the platform detection; nothing connects to it
  HOST: '127.0.0.1',
  WARMUP_MS: '600',
  LOG_LEVEL: 'warn',
  READINESS_SHUTDOWN_DELAY_MS: String(DELAY_MS),
  READINESS_GRACE_PERIOD_SECONDS: String(GRACE_SECONDS)
}

t.test('a Kubernetes-style rolling update: no failed request, no refused or broken upgrade, no lost message, every old pod exits 0 in time',
  { skip: missing('haproxy'), timeout: 120_000 }, async (t) => {
    const servicePort = await freePort()
    const api = await kubeProxy(t, servicePort)
    let podCount = 0

    /** Starts a pod and adds it to the endpoints once its readiness probe passes (every 100 ms). */
    async function startPod (): Promise<{ name: string, proc: ChatProcess }> {
      const name = `pod${podCount++}`
      const port = await freePort()
      const proc = await startChat(t, port, POD_ENV)
      while ((await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.status, () => 0)) !== 200) await sleep(100)
      t.equal(await api(`add server endpoints/${name} 127.0.0.1:${port}`), 'New server registered.', `${name} added to the endpoints once ready`)
      await api(`enable server endpoints/${name}`)
      return { name, proc }
    }

    /** SIGTERM, and the endpoint removed ENDPOINT_LAG_MS later; resolves with the exit code and time. */
    async function terminatePod ({ name, proc }: { name: string, proc: ChatProcess }): Promise<{ code: number | null, ms: number }> {
      const signalled = Date.now()
      proc.child.kill('SIGTERM')
      await sleep(ENDPOINT_LAG_MS)
      await api(`set server endpoints/${name} state maint`)
      const code = await proc.exited
      return { code, ms: Date.now() - signalled }
    }

    let pods = [await startPod(), await startPod()]
    const service = `127.0.0.1:${servicePort}`

    // HTTP clients: keep-alive connections through the Service, requests back to back.
    const requests = { ok: 0, failed: [] as string[] }
    let running = true
    const httpLoop = async (): Promise<void> => {
      while (running) {
        try {
          const res = await fetch(`http://${service}/client.js`)
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
    const users = Array.from({ length: 12 }, (_, i) => chatUser(`user${i}`, `ws://${service}/chat/lobby`, 100))
    await until(() => users.every((u) => u.client.state === 'open'), 10_000)
    await sleep(300)

    const exits: Array<{ code: number | null, ms: number }> = []
    for (let i = 0; i < 2; i++) {
      const fresh = await startPod()
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
      t.ok(exit.ms < GRACE_SECONDS * 1000 * 0.6, `${exit.ms} ms after SIGTERM: well inside its ${GRACE_SECONDS} s grace period (delay ${DELAY_MS} ms)`)
      t.ok(exit.ms >= DELAY_MS, 'and not before its serving delay ended')
    }
    t.equal(requests.failed.length, 0, `0 of ${requests.ok + requests.failed.length} HTTP requests failed (${[...new Set(requests.failed)].join(', ')})`)
    const codes = users.flatMap((u) => u.closeCodes)
    t.same(codes.filter((c) => c !== 1012 && c !== 1001), [], `every close was a 1012/1001 drain (${codes.length} closes: ${[...new Set(codes)].join(', ')})`)
    t.ok(codes.length >= users.length, 'the users on the old pods were drained and moved')
    t.same(users.flatMap((u) => u.refusals), [], '0 refused upgrades')
    t.ok(users.every((u) => u.client.state === 'open'), 'every user is connected at the end')
    const lost = users.reduce((n, u) => n + u.pending.size, 0)
    const acked = users.reduce((n, u) => n + u.acked.size, 0)
    const resent = users.reduce((n, u) => n + u.resent, 0)
    t.equal(lost, 0, `0 messages lost: ${acked} acknowledged`)
    t.comment(`figures: ${requests.ok} HTTP requests ok, ${requests.failed.length} failed; ${codes.length} WebSocket drains (${[...new Set(codes)].join(', ')}); ` +
      `${resent} messages resent after a 1012; old pods exited after ${exits.map((e) => `${e.ms} ms`).join(', ')}`)
    for (const u of users) u.client.close()
  })
