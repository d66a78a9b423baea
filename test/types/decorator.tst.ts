import Fastify from 'fastify'
import { expect, test } from 'tstyche'
import readiness, { type ReadinessApi, type ReadinessStatus } from '../../index.js'
import * as entry from '../../index.js'

const app = Fastify()
await app.register(readiness)

test('app.readiness is ReadinessApi', () => {
  expect(app.readiness).type.toBe<ReadinessApi>()
  expect(app.readiness.status()).type.toBe<ReadinessStatus>()
  expect(app.readiness.setOutOfService('maintenance')).type.toBe<void>()
  expect(app.readiness.setInService()).type.toBe<void>()
  expect(app.readiness.addProbe('db', async () => {})).type.toBe<ReadinessApi>()
  expect(app.readiness.waitFor(['db'], { timeoutMs: 1000 })).type.toBe<Promise<void>>()
  expect(app.readiness.waitForPhase('warm', { timeoutMs: 1000 })).type.toBe<Promise<void>>()
})

test('the alias methods are gone', () => {
  expect(app.readiness).type.not.toHaveProperty('registerReadinessCheck')
  expect(app.readiness).type.not.toHaveProperty('signalNotReady')
  expect(app.readiness).type.not.toHaveProperty('signalReady')
  expect(app.readiness).type.not.toHaveProperty('setReadinessStatus')
})

test("the state's wiring is not part of the public type", () => {
  expect(app.readiness).type.not.toHaveProperty('addCloser')
  expect(app.readiness).type.not.toHaveProperty('use')
  expect(app.readiness).type.not.toHaveProperty('configureStartup')
  expect(app.readiness).type.not.toHaveProperty('setShutdownSequence')
  expect(app.readiness).type.not.toHaveProperty('startProbes')
  expect(app.readiness).type.not.toHaveProperty('emit')
  expect(app.readiness).type.not.toHaveProperty('suggestedHoldMs')
})

test('the waits take timeoutMs, not timeout', () => {
  expect(app.readiness.waitFor(undefined, { timeout: 1000 })).type.toRaiseError()
  expect(app.readiness.waitForPhase('warm', { timeout: 1000 })).type.toRaiseError()
})

test('the class is not in the public entry', () => {
  expect(entry).type.not.toHaveProperty('Readiness')
  expect(entry).type.not.toHaveProperty('bindReadinessMetrics')
})
