import type { IncomingMessage } from 'node:http'
import type { WebSocketServer } from 'ws'

/**
 * Every WebSocket upgrade of @fastify/websocket, from whatever encapsulation
 * context, ends in `wss.handleUpgrade()`, which asks `wss.shouldHandle(req)`
 * before it completes the handshake and long before the app's handler runs.
 * ws documents that method as the one to override. The gate's route hooks
 * mark the requests they admitted; an upgrade that reaches this point
 * unmarked came through a route the gate never saw (declared before the suite,
 * in a sibling plugin, with the suite encapsulated), and `decide` gets the
 * last word on it. Returning false makes ws abort the handshake: the handler
 * never runs.
 */
export function installBackstop (wss: WebSocketServer, decide: (request: IncomingMessage) => boolean): void {
  if (guarded.has(wss)) return
  guarded.add(wss)
  const original = wss.shouldHandle.bind(wss)
  wss.shouldHandle = (request: IncomingMessage): boolean => original(request) && decide(request)
}

const guarded = new WeakSet<WebSocketServer>()
