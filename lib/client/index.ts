/**
 * The other half of the readiness gate: a WebSocket that comes back at the
 * right moment, and never faster than its backoff allows, whatever the server
 * answers. Reconnects on refused upgrades (Node: the 503 and its Retry-After;
 * browsers: close 1006 before open) and on 1001, 1012, 1013 and other
 * non-final closes; buffers what is sent meanwhile and delivers it in order
 * once connected; with `delivery`, numbers messages and re-sends what the
 * server has not acknowledged. No dependencies; the browser bundle is built
 * from this file.
 *
 * Layout: connection.ts (the connection loop: connect, close, retry),
 * stretch.ts (attempts and the give-up deadline), outbox.ts (what is sent: the
 * buffer, or numbered frames and acks), options.ts (the option table),
 * socket.ts (browser / Node socket differences), health.ts (the health route as
 * a hint), backoff.ts (the schedule), timers.ts, types.ts (the public types),
 * frames.ts (the delivery wire format, shared with lib/delivery).
 */

export { ReadinessClient } from './connection.js'
export { DeliverySessionInUseError } from './session-error.js'
export type { ClientEvents, ClientState, Outgoing, ReadinessClientOptions, WebSocketConstructor, WebSocketLike } from './types.js'
export { parseRetryAfter, retryDelay, MAX_TIMER_MS, DEFAULT_BACKOFF, type BackoffSettings } from './backoff.js'
