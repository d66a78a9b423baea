import { handlerNeverRan, retryHint } from '../gate/close-reasons.js'
import { capTimer, DEFAULT_BACKOFF, parseRetryAfter, retryDelay, type BackoffSettings } from './backoff.js'
import { Emitter } from './emitter.js'
import { messageFrame, newSessionId, parseAckFrame, SESSION_ID } from './frames.js'

/**
 * The other half of the readiness gate: a WebSocket that comes back at the
 * right moment, and never faster than its backoff allows, whatever the server
 * answers. Reconnects on refused upgrades (Node: the 503 and its Retry-After;
 * browsers: close 1006 before open) and on 1001, 1012, 1013 and other
 * non-final closes; buffers what is sent meanwhile and delivers it in order
 * once connected; with `delivery`, numbers messages and re-sends what the
 * server has not acknowledged. No dependencies.
 */

export { parseRetryAfter, retryDelay, MAX_TIMER_MS, DEFAULT_BACKOFF, type BackoffSettings } from './backoff.js'

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

export interface ClientEvents extends Record<string, unknown[]> {
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
  /** An attempt whose handshake has not finished after this long is aborted and counts as failed (default 10 s). */
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
  delivery?: boolean | { sessionId?: string }
  /** Seeded randomness for tests; Math.random by default. */
  random?: () => number
}

const CONNECTING = 0
const OPEN = 1
const DEFAULT_FINAL = [1000, 1008]

interface Unacked { seq: number, frame: string, data: string }

type NodeSocket = { on?: (event: string, fn: (...args: any[]) => void) => void, terminate?: () => void }

export class ReadinessClient extends Emitter<ClientEvents> {
  readonly url: string
  /** Delivery mode: the session id the server dedupes on; null otherwise. */
  readonly sessionId: string | null
  #Ctor: WebSocketConstructor
  #protocols: string | string[] | undefined
  #backoff: BackoffSettings
  #healthyAfterMs: number
  #handshakeTimeoutMs: number
  #maxAttempts: number
  #maxElapsedMs: number
  #maxBuffered: number
  #final: number[]
  #healthUrl: string | undefined
  #random: () => number
  #socket: WebSocketLike | null = null
  #state: ClientState = 'idle'
  #buffer: Outgoing[] = []
  /** The retry about to be scheduled (1 = the first after a failure): what the backoff grows with. */
  #attempt = 0
  /** Connection attempts that failed since the last healthy connection: what maxAttempts bounds. */
  #failed = 0
  /** When the current stretch without a healthy connection began. */
  #since = 0
  #hintMs: number | null = null
  #hintSource: 'retry-after' | 'health' = 'retry-after'
  #stopped = false
  #retryTimer: ReturnType<typeof setTimeout> | null = null
  #handshakeTimer: ReturnType<typeof setTimeout> | null = null
  #healthyTimer: ReturnType<typeof setTimeout> | null = null
  #giveUpTimer: ReturnType<typeof setTimeout> | null = null
  #healthAbort: AbortController | null = null
  /**
   * Without delivery: what went onto the current socket before anything
   * proved the app's handler saw it. A 1013 `not admitted` (the gate's
   * accept-then-close) means it never did, so these go back to the front of
   * the buffer; any other close means they may have been handled.
   */
  #unconfirmed: Outgoing[] | null = null
  #seq = 0
  #unacked: Unacked[] = []

  constructor (url: string, options: ReadinessClientOptions = {}) {
    super()
    this.url = url
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (Ctor === undefined) throw new TypeError('fastify-readiness/client: no WebSocket implementation: pass { WebSocket } (the ws package in Node)')
    this.#Ctor = Ctor
    this.#protocols = options.protocols
    const b = options.backoff ?? {}
    this.#backoff = {
      initialMs: ms('backoff.initialMs', b.initialMs, DEFAULT_BACKOFF.initialMs, 1),
      maxMs: ms('backoff.maxMs', b.maxMs, DEFAULT_BACKOFF.maxMs, 1),
      factor: num('backoff.factor', b.factor, DEFAULT_BACKOFF.factor, 1, 100),
      hintFloorMs: ms('backoff.hintFloorMs', b.hintFloorMs, DEFAULT_BACKOFF.hintFloorMs, 0),
      hintCeilingMs: ms('backoff.hintCeilingMs', b.hintCeilingMs, DEFAULT_BACKOFF.hintCeilingMs, 0)
    }
    if (this.#backoff.hintFloorMs > this.#backoff.hintCeilingMs) throw new RangeError('fastify-readiness/client: backoff.hintFloorMs must not exceed backoff.hintCeilingMs')
    this.#healthyAfterMs = ms('healthyAfterMs', options.healthyAfterMs, 5000, 0)
    this.#handshakeTimeoutMs = ms('handshakeTimeoutMs', options.handshakeTimeoutMs, 10_000, 1)
    const maxAttempts = options.maxAttempts ?? Infinity
    if (maxAttempts !== Infinity && !(Number.isSafeInteger(maxAttempts) && maxAttempts >= 1)) {
      throw new RangeError(`fastify-readiness/client: maxAttempts must be an integer >= 1 (or Infinity: no limit), got ${String(maxAttempts)}`)
    }
    this.#maxAttempts = maxAttempts
    this.#maxElapsedMs = options.maxElapsedMs === undefined || options.maxElapsedMs === Infinity ? Infinity : ms('maxElapsedMs', options.maxElapsedMs, 0, 0)
    this.#maxBuffered = num('maxBuffered', options.maxBuffered, 100, 0, Number.MAX_SAFE_INTEGER)
    this.#final = (options.finalCodes ?? []).concat(DEFAULT_FINAL)
    this.#healthUrl = options.healthUrl
    this.#random = options.random ?? Math.random
    const delivery = options.delivery ?? false
    if (delivery === false) this.sessionId = null
    else {
      const id = delivery === true ? undefined : delivery.sessionId
      if (id !== undefined && !SESSION_ID.test(id)) throw new TypeError('fastify-readiness/client: delivery.sessionId must be 8-64 characters of [A-Za-z0-9_-]')
      this.sessionId = id ?? newSessionId()
    }
    this.#startStretch()
    this.#connect()
  }

  get state (): ClientState { return this.#state }
  /** Messages not yet on a socket (without delivery) or not yet acknowledged (with delivery). */
  get buffered (): number { return this.sessionId === null ? this.#buffer.length : this.#unacked.length }
  /** Connection attempts that failed since the last healthy connection. */
  get attempts (): number { return this.#failed }

  /** Sends now when open; otherwise keeps it (bounded) and sends it, in order, once connected. */
  send (data: Outgoing): boolean {
    if (this.#state === 'closed') return false
    if (this.sessionId !== null) return this.#sendNumbered(data)
    if (this.#socket !== null && this.#socket.readyState === OPEN && this.#buffer.length === 0) {
      this.#unconfirmed?.push(data)
      this.#socket.send(data as never)
      return true
    }
    if (this.#buffer.length >= this.#maxBuffered) {
      this.emit('dropped', data)
      return false
    }
    this.#buffer.push(data)
    return true
  }

  /** Closes for good: no reconnect. */
  close (code = 1000, reason = ''): void {
    this.#stopped = true
    this.#clearTimers()
    const socket = this.#socket
    this.#socket = null
    if (socket !== null) {
      detach(socket)
      if (socket.readyState === CONNECTING) abort(socket)
      else socket.close(code, reason)
    }
    this.#setState('closed')
  }

  #sendNumbered (data: Outgoing): boolean {
    if (typeof data !== 'string') throw new TypeError('fastify-readiness/client: delivery mode sends text messages only')
    if (this.#unacked.length >= this.#maxBuffered) {
      this.emit('dropped', data)
      return false
    }
    const seq = ++this.#seq
    const entry = { seq, frame: messageFrame(this.sessionId as string, seq, data), data }
    this.#unacked.push(entry)
    if (this.#socket !== null && this.#socket.readyState === OPEN) this.#socket.send(entry.frame as never)
    return true
  }

  #setState (state: ClientState): void {
    if (this.#state === state) return
    this.#state = state
    this.emit('state', state)
  }

  /** A stretch without a healthy connection begins: the maxElapsedMs clock runs in every state from here. */
  #startStretch (): void {
    if (this.#since !== 0) return
    this.#since = Date.now()
    if (this.#maxElapsedMs !== Infinity) {
      this.#giveUpTimer = setTimeout(() => { this.#giveUpTimer = null; this.#onDeadline() }, capTimer(this.#maxElapsedMs))
      unref(this.#giveUpTimer)
    }
  }

  #onDeadline (): void {
    // An open socket may still prove healthy; its close checks the clock again.
    if (this.#state === 'open' || this.#stopped) return
    this.#giveUp()
  }

  #giveUp (): void {
    const elapsedMs = Date.now() - this.#since
    this.close(1000, '')
    // Nothing kept is ever sent now: say so, instead of leaving it stuck in a buffer.
    const kept: Outgoing[] = this.sessionId === null ? this.#buffer : this.#unacked.map((entry) => entry.data)
    this.#buffer = []
    this.#unacked = []
    for (const data of kept) this.emit('dropped', data)
    this.emit('giveup', { attempts: this.#failed, elapsedMs })
  }

  #clearTimers (): void {
    for (const timer of [this.#retryTimer, this.#handshakeTimer, this.#healthyTimer, this.#giveUpTimer]) if (timer !== null) clearTimeout(timer)
    this.#retryTimer = this.#handshakeTimer = this.#healthyTimer = this.#giveUpTimer = null
    this.#healthAbort?.abort()
    this.#healthAbort = null
  }

  #connect (): void {
    if (this.#stopped) return
    this.#hintMs = null
    this.#hintSource = 'retry-after'
    this.#setState('connecting')
    let socket: WebSocketLike
    try {
      socket = new this.#Ctor(this.url, this.#protocols)
    } catch (err) {
      // A malformed URL is the caller's bug, not a reason to retry.
      this.close()
      throw err
    }
    this.#socket = socket
    let opened = false
    this.#handshakeTimer = setTimeout(() => {
      this.#handshakeTimer = null
      if (this.#socket !== socket) return
      this.#socket = null
      detach(socket)
      abort(socket)
      this.#closed(1006, 'handshake timeout', false)
    }, this.#handshakeTimeoutMs)
    unref(this.#handshakeTimer)
    // Node's ws reports a refused upgrade with its status; browsers only see 1006.
    const nodeSocket = socket as unknown as NodeSocket
    if (typeof nodeSocket.on === 'function') {
      nodeSocket.on('unexpected-response', (_request: unknown, response: { statusCode?: number, headers: Record<string, string | undefined>, resume: () => void }) => {
        const header = response.headers['retry-after']
        this.#hintMs = parseRetryAfter(header)
        const seconds = header !== undefined && /^\s*\d+\s*$/.test(header) ? Number(header) : (this.#hintMs === null ? null : Math.ceil(this.#hintMs / 1000))
        this.emit('refused', { status: response.statusCode ?? 0, retryAfter: seconds })
        response.resume()
        // Handling this event leaves ws in CONNECTING; terminate() aborts the handshake and closes (1006).
        nodeSocket.terminate?.()
      })
      // Without a listener, a failed handshake would be an uncaught 'error' on some ws versions.
      nodeSocket.on('error', () => {})
    }
    socket.onopen = () => {
      if (this.#socket !== socket) return
      opened = true
      this.#clearTimer('handshake')
      this.#unconfirmed = []
      this.#healthyTimer = setTimeout(() => { this.#healthyTimer = null; this.#healthy() }, this.#healthyAfterMs)
      unref(this.#healthyTimer)
      this.#setState('open')
      this.emit('open')
      this.#flush()
    }
    socket.onmessage = (event) => {
      if (this.#socket !== socket) return
      // Anything from the server means the app's handler runs: the gate itself never sends data.
      this.#unconfirmed = null
      if (this.sessionId !== null && typeof event.data === 'string') {
        const ack = parseAckFrame(event.data)
        if (ack !== null) {
          if (ack.session === this.sessionId) this.#acked(ack.seq)
          return
        }
      }
      this.emit('message', event.data)
    }
    socket.onerror = () => {} // the close that follows decides
    socket.onclose = (event) => {
      if (this.#socket !== socket) return
      this.#socket = null
      const code = opened ? event.code : (event.code === 1005 || event.code === 1000 ? 1006 : event.code)
      this.#closed(code, event.reason ?? '', opened)
    }
  }

  #clearTimer (which: 'handshake' | 'healthy'): void {
    if (which === 'handshake' && this.#handshakeTimer !== null) { clearTimeout(this.#handshakeTimer); this.#handshakeTimer = null }
    if (which === 'healthy' && this.#healthyTimer !== null) { clearTimeout(this.#healthyTimer); this.#healthyTimer = null }
  }

  /** Open long enough: the server is not bouncing us. Only now do attempts and the elapsed clock reset. */
  #healthy (): void {
    this.#attempt = 0
    this.#failed = 0
    this.#since = 0
    this.#unconfirmed = null
    if (this.#giveUpTimer !== null) clearTimeout(this.#giveUpTimer)
    this.#giveUpTimer = null
  }

  #acked (seq: number): void {
    let n = 0
    while (n < this.#unacked.length && this.#unacked[n].seq <= seq) n++
    if (n === 0) return
    this.#unacked.splice(0, n)
    this.emit('acked', seq)
  }

  #closed (code: number, reason: string, opened: boolean): void {
    this.#clearTimer('handshake')
    const wasHealthy = opened && this.#healthyTimer === null && this.#since === 0
    this.#clearTimer('healthy')
    const final = this.#stopped || (opened && this.#final.includes(code))
    if (this.sessionId === null && this.#unconfirmed !== null && handlerNeverRan(code, reason)) {
      this.#buffer.unshift(...this.#unconfirmed)
    }
    this.#unconfirmed = null
    if (!final) {
      const hint = retryHint(reason)
      if (hint !== null) { this.#hintMs = hint * 1000; this.#hintSource = 'retry-after' }
      // The socket that just closed was an attempt; it failed unless it lasted healthyAfterMs.
      if (wasHealthy) this.#attempt = 0
      else this.#failed++
      this.#startStretch()
    }
    // willRetry is the truth: the close that exhausts maxAttempts or maxElapsedMs says false (giveup follows).
    const exhausted = !final && this.#exhausted()
    this.emit('close', { code, reason, willRetry: !final && !exhausted })
    if (final) {
      this.close()
      return
    }
    if (this.#stopped) return // a close listener called close()
    void this.#scheduleRetry()
  }

  #flush (): void {
    const socket = this.#socket
    if (socket === null || socket.readyState !== OPEN) return
    if (this.sessionId !== null) {
      // Everything unacknowledged goes again, in order; the server's window drops what it already handled.
      for (const entry of this.#unacked) socket.send(entry.frame as never)
      return
    }
    while (this.#buffer.length > 0 && socket.readyState === OPEN) {
      const data = this.#buffer.shift() as Outgoing
      this.#unconfirmed?.push(data)
      socket.send(data as never)
    }
  }

  #exhausted (): boolean {
    return this.#failed >= this.#maxAttempts || Date.now() - this.#since >= this.#maxElapsedMs
  }

  async #scheduleRetry (): Promise<void> {
    // maxAttempts: N failed attempts in a row, then no N+1st (nor a health request for it).
    if (this.#exhausted()) {
      this.#giveUp()
      return
    }
    this.#attempt++
    this.#setState('waiting')
    const attempt = this.#attempt
    if (this.#hintMs === null && this.#healthUrl !== undefined) {
      const health = await this.#askHealth()
      if (this.#stopped || this.#state !== 'waiting') return
      if (health !== null) { this.#hintMs = health; this.#hintSource = 'health' }
    }
    const { delayMs, source } = retryDelay(attempt, this.#hintMs, this.#backoff, this.#random)
    this.emit('retry', { attempt, delayMs, source: source === 'hint' ? this.#hintSource : 'backoff' })
    this.#retryTimer = setTimeout(() => { this.#retryTimer = null; this.#connect() }, delayMs)
  }

  /** Asks the health route when to come back (ms): 0 when it says ready now, its Retry-After otherwise. Time-bounded. */
  async #askHealth (): Promise<number | null> {
    const controller = typeof AbortController === 'function' ? new AbortController() : null
    this.#healthAbort = controller
    const timer = setTimeout(() => controller?.abort(), this.#handshakeTimeoutMs)
    unref(timer)
    try {
      const res = await fetch(this.#healthUrl as string, { signal: controller?.signal })
      if (res.ok) { void res.body?.cancel(); return 0 }
      const header = parseRetryAfter(res.headers.get('retry-after'))
      if (header !== null) { void res.body?.cancel(); return header }
      const body = await res.json().catch(() => null) as { retryAfter?: unknown } | null
      return typeof body?.retryAfter === 'number' && Number.isFinite(body.retryAfter) && body.retryAfter >= 0 ? body.retryAfter * 1000 : null
    } catch {
      return null
    } finally {
      clearTimeout(timer)
      if (this.#healthAbort === controller) this.#healthAbort = null
    }
  }
}

function detach (socket: WebSocketLike): void {
  socket.onopen = socket.onmessage = socket.onclose = null
  socket.onerror = () => {}
}

function abort (socket: WebSocketLike): void {
  const node = socket as unknown as NodeSocket
  try {
    if (typeof node.terminate === 'function') node.terminate()
    else socket.close()
  } catch {}
}

function unref (timer: unknown): void {
  (timer as { unref?: () => void }).unref?.()
}

function num (name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`fastify-readiness/client: ${name} must be a finite number in [${min}, ${max}], got ${String(value)}`)
  }
  return value
}

function ms (name: string, value: number | undefined, fallback: number, min: number): number {
  return num(name, value, fallback, min, 2_147_483_647)
}
