import { createServer } from 'node:http'
import type { Socket } from 'node:net'
import t from 'tap'
import WebSocket from 'ws'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'
import { until } from '../helpers/net.js'

/**
 * Issue 24: `healthUrl` was asked before each retry's wait and awaited for up to handshakeTimeoutMs, so a
 * health route that hangs held every retry back that long (10 s by default). It is now asked while the
 * backoff runs: the retry goes on time, the stale request is aborted, and only an answer that comes first
 * can change the wait.
 */

const WS = WebSocket as unknown as WebSocketConstructor

t.test('a healthUrl that hangs does not delay the retry: the next attempt comes on the backoff, not after the health timeout', async (t) => {
  let upgrades = 0
  let healthAsked = 0
  const server = createServer(() => { healthAsked++ }) // the health route never answers
  server.on('upgrade', (_request, socket: Socket) => {
    upgrades++
    socket.on('error', () => {})
    // Refused without a hint, as a browser sees it: the client asks the health route.
    socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const { port } = server.address() as { port: number }
  const client = new ReadinessClient(`ws://127.0.0.1:${port}/chat`, {
    WebSocket: WS,
    healthUrl: `http://127.0.0.1:${port}/health/websocket`,
    handshakeTimeoutMs: 120_000, // what bounded the health request before the fix: far past this test's wait
    backoff: { initialMs: 200, maxMs: 200 }
  })
  t.teardown(() => client.close())
  const retries: Array<{ attempt: number, source: string }> = []
  client.on('retry', (r) => retries.push({ attempt: r.attempt, source: r.source }))
  await until(() => upgrades >= 3, 30_000)
  client.close()
  t.ok(healthAsked >= 1, `the health route was asked (${healthAsked} times) and never answered`)
  t.same(retries.slice(0, 2), [{ attempt: 1, source: 'backoff' }, { attempt: 2, source: 'backoff' }], 'each retry went on its backoff')
})
