/** The client's public types: what it needs of a WebSocket, what it sends, its options and its events. */

/**
 * An event handler property. Written as a method so its parameter is checked bivariantly: the `ws`
 * package and the DOM type their handlers with their own, richer event classes (`ws`'s `CloseEvent` has
 * `target` and `type`), which a strict function type would refuse although the client only reads the
 * fields named here.
 */
type Handler<E> = { bivarianceHack (event: E): void }['bivarianceHack']

/** The WHATWG WebSocket surface (browsers), which `ws` also implements. */
export interface WebSocketLike {
  readonly readyState: number
  binaryType?: string
  onopen: Handler<unknown> | null
  onclose: Handler<{ code: number, reason: string, wasClean?: boolean }> | null
  onerror: Handler<unknown> | null
  onmessage: Handler<{ data: unknown }> | null
  send: (data: never) => void
  close: (code?: number, reason?: string) => void
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

export type Outgoing = string | ArrayBufferLike | ArrayBufferView | Blob

export type ClientState = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed'

export interface ClientEvents {
  state: [state: ClientState]
  open: []
  message: [data: unknown]
  /** A socket closed (or its handshake timed out); `willRetry` says whether the client reconnects. */
  close: [info: { code: number, reason: string, willRetry: boolean }]
  /** An upgrade was refused (Node only: browsers cannot see the status). `retryAfter` in seconds, as sent. */
  refused: [info: { status: number, retryAfter: number | null }]
  /** The next attempt is scheduled. */
  retry: [info: { attempt: number, delayMs: number, source: 'retry-after' | 'health' | 'backoff' }]
  /** A message did not fit in the buffer and was not sent. */
  dropped: [data: Outgoing]
  /** Delivery mode: the server's handler finished every message up to `seq`. */
  acked: [seq: number]
  /** Attempts or time ran out; the client stays closed. */
  giveup: [info: { attempts: number, elapsedMs: number }]
  /**
   * Delivery: the server refused this client (a `DeliverySessionInUseError`, close 4409: another live client
   * has the same `sessionId` and the server's `withDelivery` is `exclusive`). Nothing of it was acked; the
   * client retries after the hint unless the app calls `close()`.
   */
  error: [error: Error & { code: string }]
  /**
   * Delivery, server to client: the server could not replay what this client missed (beyond its outbox's
   * bounds, or forgotten: `to` null). Messages `from`..`to` will never arrive: resync the app's state.
   */
  resumeFailed: [info: { from: number, to: number | null }]
}

export interface ReadinessClientOptions {
  /** A WebSocket constructor: the browser's (default) or `ws` in Node. */
  WebSocket?: WebSocketConstructor
  protocols?: string | string[]
  /**
   * Backoff (defaults: 250 ms, 30 s, 2, hints within [500 ms, 60 s]). Delay n is uniform in
   * [b/2, b] with b = min(maxMs, initialMs x factor^(n-1)); a server hint only lengthens it.
   */
  backoff?: { initialMs?: number, maxMs?: number, factor?: number, hintFloorMs?: number, hintCeilingMs?: number }
  /** A connection counts as healthy (attempts and elapsed time reset) once open this long (default 5 s). */
  healthyAfterMs?: number
  /**
   * An attempt whose handshake has not finished after this long is aborted and counts as failed (default
   * 65 s: longer than the gate's hold cap, `maxHoldTimeoutMs`, 60 s by default; keep it so if you raise the cap).
   */
  handshakeTimeoutMs?: number
  /**
   * At most this many connection attempts in a row that fail (refused, timed out, or closed before
   * `healthyAfterMs`), then give up: `giveup` reports `attempts` equal to it. An integer >= 1; omit it or pass
   * Infinity for no limit (the default).
   */
  maxAttempts?: number
  /** Give up after this long without a healthy connection, in any state, in ms (default: never). */
  maxElapsedMs?: number
  /** Close codes after which the client never reconnects (default 1000 and 1008; add your 4xxx codes). */
  finalCodes?: number[]
  /** Messages kept while not connected, or unacknowledged with `delivery` (default 100); beyond it, `dropped`. */
  maxBuffered?: number
  /**
   * A URL such as `https://chat.example.com/health/websocket`: asked before a retry when the close gave no
   * hint (browsers); its answer is a hint, bounded like any other. Needs CORS on that route for another origin.
   */
  healthUrl?: string
  /**
   * Opt-in delivery (text messages only): each message is numbered (session id + sequence), kept until the
   * server's `withDelivery` helper acknowledges it, and re-sent after a reconnect. `true` or `{ sessionId }`.
   */
  delivery?: boolean | {
    /**
     * A label for the client's session (default: random), seen by the server as `ctx.session`. Safe to keep
     * across reloads and tabs: each client object is its own incarnation with its own window.
     */
    sessionId?: string
    /** The live-peer check: a ping every this often (default 5,000 ms; 0 turns it off). */
    heartbeatMs?: number
    /** No frame from the server this long after a ping: the socket is cut and the client reconnects (default 3,000 ms). */
    heartbeatTimeoutMs?: number
  }
  /** Seeded randomness for tests; Math.random by default. */
  random?: () => number
}
