import t, { type Test } from 'tap'
import type { FastifyReadinessOptions } from '../../index.js'
import { suiteOnly } from '../helpers/app.js'
import { captureLogger } from '../helpers/logs.js'
import { listen, sleep, until } from '../helpers/net.js'

// Audit: a throwing listener corrupted readiness. probeChanged was emitted
// before the recompute (the throw skipped it: db down, /health/ready 200); a
// throwing ready or phaseFinished listener failed a phase that had succeeded;
// a throwing onChange listener made ready() and close() reject.

async function app (t: Test, options: FastifyReadinessOptions) {
  const { lines, stream } = captureLogger()
  const fastify = await suiteOnly(t, options, { logger: { level: 'error', stream } })
  return { fastify, lines }
}

const listenerErrors = (lines: Array<Record<string, any>>, event: string) => lines.filter((l) => l.level === 50 && l.event === event)

t.test('a throwing probeChanged listener cannot keep a lost critical probe ready', async (t) => {
  let up = true
  const { fastify, lines } = await app(t, { probes: { db: { check: async () => { if (!up) throw new Error('down') }, intervalMs: 20 } } })
  const { http } = await listen(fastify)
  await until(() => fastify.readiness.isReady())
  let seenReady: boolean | null = null
  fastify.readiness.on('probeChanged', () => {
    seenReady = fastify.readiness.isReady()
    throw new Error('listener bug')
  })
  up = false
  await until(() => fastify.readiness.status().probes.db?.status === 'fail')
  t.equal(fastify.readiness.isReady(), false, 'isReady() follows the probe')
  t.equal((await fetch(`${http}/health/ready`)).status, 503, '/health/ready is 503')
  t.equal(seenReady, false, 'the listener already saw the new state')
  t.equal(listenerErrors(lines, 'probeChanged').length, 1, 'the throw is logged once, at error level, naming the event')
})

t.test('throwing ready and phaseFinished listeners do not fail a phase that succeeded', async (t) => {
  for (const event of ['ready', 'phaseFinished'] as const) {
    const { fastify, lines } = await app(t, { phases: { warm: () => sleep(20) } })
    fastify.readiness.on(event, () => { throw new Error(`${event} listener bug`) })
    const { http } = await listen(fastify)
    await until(() => fastify.readiness.startupState !== 'running' && fastify.readiness.startupState !== 'pending')
    t.equal(fastify.readiness.startupState, 'done', `${event}: startup is done`)
    t.equal(fastify.readiness.status().phases.warm?.error, null, `${event}: the phase carries no error`)
    t.equal((await fetch(`${http}/health/ready`)).status, 200, `${event}: /health/ready is 200`)
    t.equal(listenerErrors(lines, event).length, 1, `${event}: logged once`)
  }
})

t.test('a throwing or rejecting onChange listener fails neither ready() nor close()', async (t) => {
  const { fastify, lines } = await app(t, { probes: { db: async () => {} } })
  fastify.readiness.onChange(() => { throw new Error('onChange bug') })
  fastify.readiness.onChange(async () => { throw new Error('async onChange bug') })
  await listen(fastify)
  await until(() => fastify.readiness.isReady())
  await t.resolves(fastify.close(), 'close() resolves')
  await until(() => listenerErrors(lines, 'onChange').some((l) => /async onChange bug/.test(l.err?.message)))
  t.ok(listenerErrors(lines, 'onChange').some((l) => /^onChange bug/.test(l.err?.message)), 'the sync throw is logged')
})

t.test('an async listener that rejects is logged, not an unhandled rejection', async (t) => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const { fastify, lines } = await app(t, { probes: { db: async () => {} } })
  fastify.readiness.on('ready', async () => { throw new Error('async ready bug') })
  await listen(fastify)
  await until(() => listenerErrors(lines, 'ready').length === 1)
  await sleep(20)
  t.same(unhandled, [], 'no unhandled rejection')
  t.ok(fastify.readiness.isReady())
})
