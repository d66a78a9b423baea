import { expect, test } from 'tstyche'
import WebSocket from 'ws'
import {
  DEFAULT_BACKOFF, MAX_TIMER_MS, parseRetryAfter, ReadinessClient, retryDelay,
  type BackoffSettings, type ClientEvents, type ClientState, type Outgoing, type ReadinessClientOptions, type WebSocketConstructor, type WebSocketLike
} from '../../lib/client/index.js'

test('the client accepts the ws package as its WebSocket, as docs/client.md shows', () => {
  expect(new ReadinessClient('ws://127.0.0.1:3000/chat', { WebSocket })).type.not.toRaiseError()
  expect(new ReadinessClient('ws://127.0.0.1:3000/chat', { WebSocket, healthUrl: 'http://127.0.0.1:3000/health/websocket' })).type.not.toRaiseError()
  expect(new ReadinessClient('ws://127.0.0.1:3000/chat')).type.not.toRaiseError()
  expect<typeof WebSocket>().type.toBeAssignableTo<WebSocketConstructor>()
})

test('the client refuses what is not a WebSocket constructor', () => {
  expect(new ReadinessClient('ws://x', { WebSocket: 'ws' })).type.toRaiseError()
  expect(new ReadinessClient('ws://x', { WebSocket: class {} })).type.toRaiseError()
  expect(new ReadinessClient('ws://x', { backoff: { initialMs: '1s' } })).type.toRaiseError()
})

test('every option, with its type (times in ms)', () => {
  const options: ReadinessClientOptions = {
    WebSocket,
    protocols: ['chat.v1'],
    backoff: { initialMs: 250, maxMs: 30_000, factor: 2, hintFloorMs: 500, hintCeilingMs: 60_000 },
    healthyAfterMs: 5000,
    handshakeTimeoutMs: 10_000,
    maxAttempts: 10,
    maxElapsedMs: 120_000,
    finalCodes: [4001],
    maxBuffered: 100,
    healthUrl: 'https://chat.example.com/health/websocket',
    delivery: { sessionId: 'abcdefgh' },
    random: Math.random
  }
  expect(new ReadinessClient('ws://x', options)).type.not.toRaiseError()
  expect(new ReadinessClient('ws://x', { delivery: true })).type.not.toRaiseError()
  expect(new ReadinessClient('ws://x', { protocols: 'chat.v1' })).type.not.toRaiseError()
  expect<ReadinessClientOptions['finalCodes']>().type.toBe<number[] | undefined>()
  expect<ReadinessClientOptions['delivery']>().type.toBe<boolean | { sessionId?: string, heartbeatMs?: number, heartbeatTimeoutMs?: number } | undefined>()
  expect(new ReadinessClient('ws://x', { healthyAfterMs: '5s' })).type.toRaiseError()
  expect(new ReadinessClient('ws://x', { delivery: 'yes' })).type.toRaiseError()
  expect(new ReadinessClient('ws://x', { finalCodes: 4001 })).type.toRaiseError()
  expect(new ReadinessClient('ws://x', { random: 0.5 })).type.toRaiseError()
  // Units are in the names: the seconds-free spellings are not options.
  expect(new ReadinessClient('ws://x', { handshakeTimeout: 10_000 })).type.toRaiseError()
  expect(new ReadinessClient('ws://x', { healthyAfter: 5000 })).type.toRaiseError()
})

test('the client instance', () => {
  const client = new ReadinessClient('ws://x', { WebSocket })
  expect(client.url).type.toBe<string>()
  expect(client.sessionId).type.toBe<string | null>()
  expect(client.incarnation).type.toBe<string | null>()
  expect(client.state).type.toBe<ClientState>()
  expect(client.buffered).type.toBe<number>()
  expect(client.attempts).type.toBe<number>()
  expect(client.send('text')).type.toBe<boolean>()
  expect(client.send(new Uint8Array(2))).type.toBe<boolean>()
  expect(client.send(new ArrayBuffer(2))).type.toBe<boolean>()
  expect(client.send({ text: 'hi' })).type.toRaiseError()
  expect(client.close()).type.toBe<void>()
  expect(client.close(4000, 'bye')).type.toBe<void>()
  expect(client.close('bye')).type.toRaiseError()
  expect<ClientState>().type.toBe<'idle' | 'connecting' | 'open' | 'waiting' | 'closed'>()
  expect<Outgoing>().type.toBe<string | ArrayBufferLike | ArrayBufferView | Blob>()
})

test('client events', () => {
  const client = new ReadinessClient('ws://x', { WebSocket })
  client.on('refused', (info) => {
    expect(info.status).type.toBe<number>()
    expect(info.retryAfter).type.toBe<number | null>()
  })
  client.on('state', (state) => { expect(state).type.toBe<ClientState>() })
  client.on('open', () => {})
  client.on('message', (data) => { expect(data).type.toBe<unknown>() })
  client.on('close', (info) => {
    expect(info.code).type.toBe<number>()
    expect(info.reason).type.toBe<string>()
    expect(info.willRetry).type.toBe<boolean>()
  })
  client.on('retry', (info) => {
    expect(info.attempt).type.toBe<number>()
    expect(info.delayMs).type.toBe<number>()
    expect(info.source).type.toBe<'retry-after' | 'health' | 'backoff'>()
  })
  client.on('dropped', (data) => { expect(data).type.toBe<Outgoing>() })
  client.on('acked', (seq) => { expect(seq).type.toBe<number>() })
  client.on('giveup', (info) => {
    expect(info.attempts).type.toBe<number>()
    expect(info.elapsedMs).type.toBe<number>()
  })
  expect(client.on('open', () => {})).type.toBe<ReadinessClient>()
  expect(client.off('open', () => {})).type.toBe<ReadinessClient>()
  expect(client.on('noSuchEvent', () => {})).type.toRaiseError()
  expect(client.on('acked', (_seq: string) => {})).type.toRaiseError()
  expect<ClientEvents['close']>().type.toBe<[info: { code: number, reason: string, willRetry: boolean }]>()
})

test('emit is the client\'s own', () => {
  const client = new ReadinessClient('ws://x', { WebSocket })
  expect(client.emit('open')).type.toRaiseError()
})

test('the backoff helpers the bench drives', () => {
  expect(DEFAULT_BACKOFF).type.toBe<BackoffSettings>()
  expect(MAX_TIMER_MS).type.toBe<2_147_483_647>()
  expect(parseRetryAfter('120')).type.toBe<number | null>()
  expect(parseRetryAfter(null, Date.now())).type.toBe<number | null>()
  expect(retryDelay(1, null, DEFAULT_BACKOFF, Math.random)).type.toBe<{ delayMs: number, source: 'hint' | 'backoff' }>()
  expect(retryDelay(1, null, { initialMs: 1 }, Math.random)).type.toRaiseError()
})

test('a browser-like WebSocket fits', () => {
  expect<WebSocketLike>().type.toHaveProperty('readyState')
  expect<WebSocketLike>().type.toHaveProperty('onmessage')
  expect<{ readyState: number }>().type.not.toBeAssignableTo<WebSocketLike>()
})
