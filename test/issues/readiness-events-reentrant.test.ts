import t, { type Test } from 'tap'
import Fastify from 'fastify'
import readiness from '../../index.js'
import { captureLogger } from '../helpers/logs.js'
import { listen, until } from '../helpers/net.js'

// Trial: `#recompute` computed `flipped`/`ready`, ran the change's own event
// (probeChanged, outOfService, ...) and then emitted ready/notReady from those
// old values, after a listener's inner change had already emitted the opposite.
// setOutOfService inside probeChanged ended with `ready` while isReady() was
// false and /health/ready 503; removeProbe inside its own probeChanged ended
// with `notReady` while ready. Apps register with service discovery on these
// events: the last one must match the real state.

const TRANSITIONS = ['ready', 'notReady', 'probeChanged', 'outOfService', 'draining', 'closing', 'broken'] as const

async function setup (t: Test) {
  const { stream } = captureLogger()
  const fastify = Fastify({ logger: { level: 'error', stream } })
  t.teardown(() => fastify.close())
  const state = { up: true }
  await fastify.register(readiness, {
    probes: { db: { check: async () => { if (!state.up) throw new Error('down') }, intervalMs: 20, timeoutMs: 100, failureThreshold: 1, successThreshold: 1 } },
    websocket: false,
    metrics: false,
    shutdown: false
  })
  const events: string[] = []
  for (const event of TRANSITIONS) {
    fastify.readiness.on(event, (...args: unknown[]) => { events.push(`${event}(${args.map(String).join(',')})`) })
  }
  const { http } = await listen(fastify)
  await until(() => fastify.readiness.isReady())
  return { fastify, http, state, events }
}

/**
 * Until the db probe has run twice more: a stale event from a later recompute would have come by then.
 * (Not a fixed sleep, which a loaded machine may pass without a single probe run.)
 */
async function twoMoreRuns (fastify: Awaited<ReturnType<typeof setup>>['fastify']): Promise<void> {
  const runs = (): number => fastify.readiness.status().probes.db?.runs ?? 0
  const from = runs()
  await until(() => runs() >= from + 2, 10_000)
}

/** The last ready/notReady event, isReady() and /health/ready all agree. */
async function assertConsistent (t: Test, fastify: Awaited<ReturnType<typeof setup>>['fastify'], http: string, events: string[]): Promise<void> {
  const transitions = events.filter((e) => e === 'ready()' || e.startsWith('notReady('))
  const last = transitions.at(-1)
  const ready = fastify.readiness.isReady()
  t.ok(last !== undefined, 'a transition was announced')
  t.equal(last === 'ready()', ready, `the last transition (${String(last)}) matches isReady() (${String(ready)})`)
  t.equal((await fetch(`${http}/health/ready`)).status, ready ? 200 : 503, '/health/ready agrees')
  for (let i = 1; i < transitions.length; i++) {
    t.not(transitions[i] === 'ready()', transitions[i - 1] === 'ready()', `transition ${i} is a real change (${transitions.join(' ')})`)
  }
}

t.test('setOutOfService inside a probeChanged listener: the sequence ends not ready', async (t) => {
  const { fastify, http, state, events } = await setup(t)
  fastify.readiness.on('probeChanged', (_name, status) => { if (status === 'pass') fastify.readiness.setOutOfService('maint') })
  state.up = false
  await until(() => fastify.readiness.status().probes.db?.status === 'fail')
  state.up = true
  await until(() => fastify.readiness.status().probes.db?.status === 'pass')
  await twoMoreRuns(fastify)
  t.equal(fastify.readiness.isReady(), false, 'out of service')
  t.equal(fastify.readiness.outOfService, 'maint')
  t.notOk(events.slice(events.indexOf('probeChanged(db,pass,fail)')).includes('ready()'), `no stale ready after the probe recovered: ${events.join(' ')}`)
  await assertConsistent(t, fastify, http, events)
})

t.test('removeProbe inside its own probeChanged listener: the sequence ends ready', async (t) => {
  const { fastify, http, state, events } = await setup(t)
  let removed: Promise<boolean> | undefined
  fastify.readiness.on('probeChanged', (name) => { removed ??= fastify.readiness.removeProbe(name) })
  state.up = false
  await until(() => removed !== undefined)
  t.equal(await removed, true, 'removed')
  // The probe is gone, so nothing runs on its schedule: its events come synchronously, in the recompute
  // removeProbe ran. A turn of the event loop lets anything queued after it land first.
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(fastify.readiness.isReady(), true, 'ready without the probe')
  t.notOk(events.at(-1)?.startsWith('notReady'), `no stale notReady: ${events.join(' ')}`)
  await assertConsistent(t, fastify, http, events)
})

t.test('setInService inside notReady/outOfService listeners: the sequence ends ready', async (t) => {
  const { fastify, http, events } = await setup(t)
  fastify.readiness.on('notReady', () => { fastify.readiness.setInService() })
  fastify.readiness.on('outOfService', (reason) => { if (reason !== null) fastify.readiness.setInService() })
  fastify.readiness.setOutOfService('x')
  await twoMoreRuns(fastify)
  t.equal(fastify.readiness.isReady(), true, 'back in service')
  t.equal(fastify.readiness.outOfService, null)
  await assertConsistent(t, fastify, http, events)
})

t.test('setOutOfService inside a ready listener: notReady follows, in order', async (t) => {
  const { fastify, http, state, events } = await setup(t)
  state.up = false
  await until(() => !fastify.readiness.isReady())
  fastify.readiness.once('ready', () => { fastify.readiness.setOutOfService('after ready') })
  state.up = true
  await until(() => fastify.readiness.outOfService !== null)
  await twoMoreRuns(fastify)
  const tail = events.slice(events.lastIndexOf('ready()'))
  t.same(tail, ['ready()', 'outOfService(after ready)', 'notReady(out of service)'], 'ready, then the change it caused, then notReady')
  await assertConsistent(t, fastify, http, events)
})

t.test('listeners flipping readiness forever are cut off; the next change announces the real state', async (t) => {
  const { fastify, http, events } = await setup(t)
  const off = (): void => { fastify.readiness.setOutOfService('ping') }
  const on = (): void => { fastify.readiness.setInService() }
  fastify.readiness.on('ready', off)
  fastify.readiness.on('notReady', on)
  fastify.readiness.setOutOfService('start') // returns: the storm is bounded, not a hang or a stack overflow
  fastify.readiness.off('ready', off)
  fastify.readiness.off('notReady', on)
  fastify.readiness.setInService()
  t.equal(fastify.readiness.isReady(), true)
  await assertConsistent(t, fastify, http, events)
  fastify.readiness.setOutOfService('final')
  t.equal(events.at(-1), 'notReady(out of service)', 'a real change after the storm is announced')
  await assertConsistent(t, fastify, http, events)
})
