import { expect, test } from 'tstyche'
import WebSocket from 'ws'
import { ReadinessClient, type ReadinessClientOptions } from '../../lib/client/index.js'

test('the client accepts the ws package as its WebSocket, as docs/client.md shows', () => {
  expect(new ReadinessClient('ws://127.0.0.1:3000/chat', { WebSocket })).type.not.toRaiseError()
  expect(new ReadinessClient('ws://127.0.0.1:3000/chat', { WebSocket, healthUrl: 'http://127.0.0.1:3000/health/websocket' })).type.not.toRaiseError()
})

test('the client refuses what is not a WebSocket constructor', () => {
  expect(new ReadinessClient('ws://x', { WebSocket: 'ws' })).type.toRaiseError()
  expect(new ReadinessClient('ws://x', { WebSocket: class {} })).type.toRaiseError()
  expect(new ReadinessClient('ws://x', { backoff: { initialMs: '1s' } })).type.toRaiseError()
})

test('client events', () => {
  const client = new ReadinessClient('ws://x', { WebSocket })
  client.on('refused', (info) => {
    expect(info.status).type.toBe<number>()
    expect(info.retryAfter).type.toBe<number | null>()
  })
  expect<ReadinessClientOptions['finalCodes']>().type.toBe<number[] | undefined>()
})
