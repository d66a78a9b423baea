import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { expect, test } from 'tstyche'
import readiness, { type RouteReadinessOptions } from '../../index.js'

const app = Fastify()
await app.register(websocket)
await app.register(readiness)

test('the route option `readiness` on shorthand routes', () => {
  expect(app.get('/ws', { websocket: true, readiness: { requires: ['redis'], mode: 'hold', holdTimeoutMs: 2000, closeOnLoss: true } }, () => {})).type.not.toRaiseError()
  expect(app.get('/plain', { readiness: { gate: true, mode: 'reject' } }, async () => 'ok')).type.not.toRaiseError()
  expect(app.get('/out', { websocket: true, readiness: false }, () => {})).type.not.toRaiseError()
  expect(app.route({ method: 'GET', url: '/r', readiness: { mode: 'accept-then-close' }, handler: async () => 'ok' })).type.not.toRaiseError()
})

test('the route option refuses what the gate does not know', () => {
  expect(app.get('/a', { readiness: { mode: 'wait' } }, () => {})).type.toRaiseError()
  expect(app.get('/b', { readiness: { requires: 'redis' } }, () => {})).type.toRaiseError()
  expect(app.get('/c', { readiness: { holdTimeoutMs: '2s' } }, () => {})).type.toRaiseError()
  expect(app.get('/c2', { readiness: { holdTimeout: 2000 } }, () => {})).type.toRaiseError()
  expect(app.get('/d', { readiness: true }, () => {})).type.toRaiseError()
  expect(app.get('/e', { readiness: { required: ['redis'] } }, () => {})).type.toRaiseError()
})

test('RouteReadinessOptions is exported as the shape of the option', () => {
  expect<RouteReadinessOptions>().type.toBeAssignableFrom({ requires: ['db'], gate: true })
})
