import type { Test } from 'tap'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { withDelivery } from '../../index.js'
import { ReadinessClient, type ReadinessClientOptions, type WebSocketConstructor } from '../../lib/client/index.js'
import type { DeliveryOutbox, DeliverySession, DedupeStore } from '../../lib/delivery/index.js'
import { buildApp } from './app.js'
import { listen, until } from './net.js'

/**
 * One instance of the late-send scenarios (test/issues/delivery-late-send-*): `stream` answers `<name>:r1`,
 * then (still running: the message is neither recorded nor acked) waits for `late`, the test's signal, and
 * sends r2..r<n>; `next` answers once. Its sessions, for their counters.
 */
export async function lateSendInstance (t: Test, name: string, store: DedupeStore, outbox: DeliveryOutbox, late: Promise<void>, n: number): Promise<{ port: number, sessions: DeliverySession[] }> {
  const app = await buildApp(t, {})
  const sessions: DeliverySession[] = []
  app.get('/chat', { websocket: true }, (socket) => {
    const session = withDelivery(socket, async (text) => {
      if (text === 'stream') {
        session.send(`${name}:r1`)
        await late
        for (let k = 2; k <= n; k++) session.send(`${name}:r${k}`)
      }
      if (text === 'next') session.send(`${name}:next`)
    }, { store, outbox })
    sessions.push(session)
  })
  const { port } = await listen(app)
  await until(() => app.readiness.isReady())
  return { port, sessions }
}

/** A connection to the shared Redis; at teardown this run's keys (a private prefix) are deleted, nothing else. */
export async function redisFor (t: Test, prefix: string): Promise<Redis> {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  await redis.connect()
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  return redis
}

export interface LateSendClient {
  client: ReadinessClient
  /** Every message received, in order. */
  got: string[]
  /** Every `resumeFailed` gap announced. */
  gaps: Array<{ from: number, to: number | null }>
  /** How many times the client has opened. */
  opens: () => number
}

/**
 * The client of the late-send scenarios on `url` (through the test's proxy), recording what it receives:
 * it sends `stream` and resolves once the first reply is in.
 */
export async function lateSendClient (t: Test, url: string, delivery: ReadinessClientOptions['delivery']): Promise<LateSendClient> {
  const client = new ReadinessClient(url, { WebSocket: WebSocket as unknown as WebSocketConstructor, delivery, backoff: { initialMs: 50, maxMs: 100 } })
  t.teardown(() => client.close())
  const got: string[] = []
  const gaps: Array<{ from: number, to: number | null }> = []
  let opens = 0
  client.on('open', () => { opens++ })
  client.on('message', (m) => got.push(String(m)))
  client.on('resumeFailed', (g) => gaps.push(g))
  client.send('stream')
  await until(() => got.length === 1, 10_000)
  return { client, got, gaps, opens: () => opens }
}
