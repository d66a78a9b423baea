import Fastify from 'fastify'
import { expect, test } from 'tstyche'
import readiness, { type FastifyReadinessOptions } from '../../index.js'

const app = Fastify()

test('valid umbrella options', () => {
  expect(app.register(readiness, {
    probes: {
      redis: async () => {},
      db: { check: async (signal: AbortSignal) => { signal.throwIfAborted() }, timeoutMs: 1000, intervalMs: 2000, critical: false }
    },
    phases: {
      dependencies: { probes: ['redis'] },
      websocket: { after: ['dependencies'], run: async (_app, signal) => { signal.throwIfAborted() } }
    },
    websocket: { mode: 'reject', holdTimeoutMs: 3000, maxHeld: 100 },
    health: false
  })).type.not.toRaiseError()
  expect(app.register(readiness, { websocket: false })).type.not.toRaiseError()
  expect(app.register(readiness)).type.not.toRaiseError()
  expect<FastifyReadinessOptions>().type.toBeAssignableFrom({ websocket: { mode: 'hold' as const } })
})

test('invalid umbrella options', () => {
  expect(app.register(readiness, { websocket: { mode: 'wait' } })).type.toRaiseError()
  expect(app.register(readiness, { probes: { redis: 'PING' } })).type.toRaiseError()
  expect(app.register(readiness, { probes: { redis: { check: async () => {}, timeoutMs: '1s' } } })).type.toRaiseError()
  expect(app.register(readiness, { phases: { warm: { after: 'dependencies' } } })).type.toRaiseError()
  expect(app.register(readiness, { health: true })).type.toRaiseError()
  expect(app.register(readiness, { websocket: { holdTimeoutMs: '5s' } })).type.toRaiseError()
})
