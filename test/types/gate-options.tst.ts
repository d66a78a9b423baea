import Fastify from 'fastify'
import { expect, test } from 'tstyche'
import { readinessWebSocketGate, type WebSocketGateOptions } from '../../index.js'

const app = Fastify()

test('the gate\'s options, milliseconds named ...Ms', () => {
  expect(app.register(readinessWebSocketGate, {
    mode: 'accept-then-close',
    holdTimeoutMs: 2000,
    maxHoldTimeoutMs: 10_000,
    maxHeld: 100,
    maxHeldPerConnection: 2,
    releaseBatch: 32,
    refusedCloseTimeoutMs: 500,
    drainTimeoutMs: 3000,
    drainSpreadMs: 0,
    closeCode: 1001,
    closeReason: 'bye'
  })).type.not.toRaiseError()
  expect(app.register(readinessWebSocketGate, {})).type.not.toRaiseError()
  expect<WebSocketGateOptions>().type.toBeAssignableFrom({ mode: 'hold' as const, drainTimeoutMs: 5000 })
})

test('the names before 0.3.0 and wrong values are type errors', () => {
  expect(app.register(readinessWebSocketGate, { holdTimeout: 2000 })).type.toRaiseError()
  expect(app.register(readinessWebSocketGate, { maxHoldTimeout: 2000 })).type.toRaiseError()
  expect(app.register(readinessWebSocketGate, { refusedCloseTimeout: 2000 })).type.toRaiseError()
  expect(app.register(readinessWebSocketGate, { drainTimeout: 2000 })).type.toRaiseError()
  expect(app.register(readinessWebSocketGate, { drainSpread: 2000 })).type.toRaiseError()
  expect(app.register(readinessWebSocketGate, { drainDelay: 2000 })).type.toRaiseError()
  expect(app.register(readinessWebSocketGate, { holdTimeoutMs: '2s' })).type.toRaiseError()
  expect(app.register(readinessWebSocketGate, { mode: 'background' })).type.toRaiseError()
  expect(app.register(readinessWebSocketGate, { closeCode: 1011 })).type.toRaiseError()
})
