import t, { type Test } from 'tap'
import Fastify from 'fastify'
import readiness, { bearerToken } from '../../index.js'
import { getJson, listen } from '../helpers/net.js'

async function app (t: Test, details: unknown): Promise<string> {
  const a = Fastify()
  t.teardown(() => a.close())
  await a.register(readiness, { probes: { db: async () => {} }, health: { details: details as never } })
  return (await listen(a)).http
}

t.test('an async policy is awaited: a Promise of false gives no details', async (t) => {
  const http = await app(t, async () => false)
  const res = await getJson(`${http}/health/ready`)
  t.same(res.body, { status: 'pass' }, 'no details for a Promise<false>')
  const yes = await getJson(`${await app(t, async () => true)}/health/ready`)
  t.ok(yes.body.probes?.db, 'details for a Promise<true>')
})

t.test('a throwing policy never makes a route 500, and /health/live never consults it', async (t) => {
  let calls = 0
  const http = await app(t, () => { calls++; throw new Error('policy exploded password=hunter2') })
  for (const path of ['/health/live', '/health/ready', '/health/startup', '/health/websocket']) {
    const res = await getJson(`${http}${path}`)
    t.equal(res.status, 200, `${path} answers 200`)
    t.same(res.body, { status: 'pass' }, `${path}: status only`)
  }
  const before = calls
  await getJson(`${http}/health/live`)
  t.equal(calls, before, 'liveness does not call the policy')
  const rejecting = await app(t, async () => { throw new Error('nope') })
  t.equal((await getJson(`${rejecting}/health/ready`)).status, 200, 'a rejecting policy is "not allowed", not a 500')
})

t.test('a policy that never settles is cut after its time bound, as "not allowed"', async (t) => {
  const http = await app(t, () => new Promise(() => {}))
  const started = Date.now()
  const res = await getJson(`${http}/health/ready`)
  t.equal(res.status, 200)
  t.same(res.body, { status: 'pass' })
  t.ok(Date.now() - started < 5000, 'answered within the bound')
  const live = Date.now()
  t.equal((await getJson(`${http}/health/live`)).status, 200)
  t.ok(Date.now() - live < 500, 'liveness is not delayed by the policy')
})

t.test('bearerToken: the right token sees details, a wrong one or X-Forwarded-For does not', async (t) => {
  const http = await app(t, bearerToken('a-long-shared-secret-token'))
  t.ok((await getJson(`${http}/health/ready`, { headers: { authorization: 'Bearer a-long-shared-secret-token' } })).body.probes, 'token: details')
  t.same((await getJson(`${http}/health/ready`, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).body, { status: 'pass' })
  t.same((await getJson(`${http}/health/ready`, { headers: { 'x-forwarded-for': '127.0.0.1' } })).body, { status: 'pass' })
})
