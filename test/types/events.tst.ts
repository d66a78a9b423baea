import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { expect, test } from 'tstyche'
import readiness, { type ProbeStatus, type PhaseError } from '../../index.js'

const app = Fastify()
await app.register(websocket)
await app.register(readiness)

test('the app.readiness decorator', () => {
  expect(app.readiness.isReady()).type.toBe<boolean>()
  expect(app.readiness.missing()).type.toBe<string[]>()
})

test('events are typed', () => {
  app.readiness.on('probeChanged', (name, status, previous) => {
    expect(name).type.toBe<string>()
    expect(status).type.toBe<ProbeStatus>()
    expect(previous).type.toBe<ProbeStatus>()
  })
  app.readiness.on('phaseFailed', (name, error) => {
    expect(name).type.toBe<string>()
    expect(error).type.toBe<PhaseError>()
  })
  app.readiness.on('gateAdmitted', (route, heldMs) => {
    expect(route).type.toBe<string>()
    expect(heldMs).type.toBe<number>()
  })
  expect(app.readiness.on('probeChanged', (_name: number) => {})).type.toRaiseError()
  expect(app.readiness.on('noSuchEvent', () => {})).type.toRaiseError()
})

test('app.readiness.websocket is usable without a null check under strict', () => {
  // Passes once app.readiness.websocket is typed non-null (helper B's narrowing, issue 19 / 12).
  expect(app.readiness.websocket.isReadyForConnections()).type.toBe<boolean>()
  expect(app.readiness.websocket.isReadyForConnections('/ws')).type.toBe<boolean>()
})
