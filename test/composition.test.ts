import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { readinessProbes, readinessStartup, readinessWebSocketGate, readinessHealth } from '../index.js'
import { Switch } from './helpers/app.js'
import { connect, listen, sleep, until } from './helpers/net.js'

t.test('each plugin registers on its own, declares its name, and they compose without the umbrella', async (t) => {
  const db = new Switch(false)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(readinessProbes, { probes: { db: { check: db.check, startIntervalMs: 5 } } })
  await app.register(readinessStartup, { phases: { dependencies: { probes: ['db'] }, warm: { after: ['dependencies'], run: () => sleep(20) } } })
  await app.register(readinessWebSocketGate, { mode: 'reject' })
  await app.register(readinessHealth, { prefix: '/status' })
  app.get('/ws', { websocket: true }, (socket) => socket.close(1000))
  for (const name of ['fastify-readiness-probes', 'fastify-readiness-startup', 'fastify-readiness-websocket', 'fastify-readiness-health']) {
    t.ok(app.hasPlugin(name), `${name} is registered under its name`)
  }

  const events: string[] = []
  app.readiness.on('phaseStarted', (name) => events.push(`started ${name}`))
  app.readiness.on('phaseFinished', (name) => events.push(`finished ${name}`))
  app.readiness.on('probeChanged', (name, status) => events.push(`probe ${name} ${status}`))
  app.readiness.on('ready', () => events.push('ready'))
  const { http, ws } = await listen(app)
  t.match(await connect(`${ws}/ws`), { kind: 'refused', status: 503 })
  t.equal((await fetch(`${http}/status/ready`)).status, 503)
  db.up = true
  await until(() => app.readiness.isReady())
  t.equal((await fetch(`${http}/status/ready`)).status, 200)
  t.equal((await connect(`${ws}/ws`)).kind, 'open')
  t.same(events.filter((e) => !e.startsWith('probe db fail')), [
    'started dependencies',
    'probe db pass',
    'finished dependencies',
    'started warm',
    'finished warm',
    'ready'
  ], 'events in the order things happened')
})
