import { Emitter } from './emitter.js'

/**
 * The other half of the readiness gate: a WebSocket that comes back at the
 * right moment. Reconnects on refused upgrades (Node: the 503 and its
 * Retry-After; browsers: close 1006 before open) and on 1001, 1012, 1013 and
 * other non-final closes, with full-jitter exponential backoff; honours
 * Retry-After when it can read it, or asks the health route; buffers what is
 * sent meanwhile and delivers it in order once connected. No dependencies.
 */

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
  /** A socket closed; `willRetry` says whether the client reconnects. */
  close: [info: { code: number, reason: string, willRetry: boolean }]
  /** An upgrade was refused (Node only: browsers cannot see the status). */
  refused: [info: { status: number, retryAfter: number | null }]
  /** The next attempt is scheduled. */
  retry: [info: { attempt: number, delayMs: number, source: 'retry-after' | 'health' | 'backoff' }]
  /** A message did not fit in the buffer and was not sent. */
  dropped: [data: Outgoing]
  /** Attempts or time ran out; the client stays closed. */
  giveup: [info: { attempts: number, elapsedMs: number }]
}

export interface ReadinessClientOptions {
  /** A WebSocket constructor: the browser's (default) or `ws` in Node. */
  WebSocket?: WebSocketConstructor
  protocols?: string | string[]
  /** Backoff: first delay bound, cap and growth (defaults 250 ms, 10 s, 2). Each delay is uniform in [0, bound]. */
  backoff?: { initialMs?: number, maxMs?: number, factor?: number }
  /** Give up after this many failed attempts in a row (default: never). */
  maxAttempts?: number
  /** Give up after this long without a connection, in ms (default: never). */
  maxElapsedMs?: number
  /** Close codes after which the client never reconnects (default 1000 and 1008; add your 4xxx codes). */
  finalCodes?: number[]
  /** Messages kept while not connected (default 100); beyond it, `dropped`. */
  maxBuffered?: number
  /**
   * A URL such as `https://chat.example.com/health/websocket`: asked before a retry when the close gave no
   * hint (browsers), its Retry-After used as the delay. Needs CORS on that route for another origin.
   */
  healthUrl?: string
  /** Seeded randomness for tests; Math.random by default. */
  random?: () => number
}

const OPEN = 1
const CONFIRM_AFTER_MS = 1000
const DEFAULT_FINAL = [1000, 1008]

export class ReadinessClient extends Emitter<ClientEvents> {
  readonly url: string
  #options: Required<Pick<ReadinessClientOptions, 'maxAttempts' | 'maxElapsedMs' | 'maxBuffered'>> & ReadinessClientOptions
  #Ctor: WebSocketConstructor
  #socket: WebSocketLike | null = null
  #state: ClientState = 'idle'
  #buffer: Outgoing[] = []
  #attempt = 0
  #since = 0
  #timer: ReturnType<typeof setTimeout> | null = null
  #retryAfter: number | null = null
  #stopped = false
  /**
   * Messages flushed onto the current socket that the server may not have
   * seen: a 1013 close right after open (the gate's accept-then-close) means
   * the handler never ran, so they go back to the front of the buffer.
   */
  #unconfirmed: Outgoing[] = []
  #confirmTimer: ReturnType<typeof setTimeout> | null = null

  constructor (url: string, options: ReadinessClientOptions = {}) {
    super()
    this.url = url
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (Ctor === undefined) throw new TypeError('fastify-readiness/client: no WebSocket implementation: pass { WebSocket } (the ws package in Node)')
    this.#Ctor = Ctor
    this.#options = { maxAttempts: Infinity, maxElapsedMs: Infinity, maxBuffered: 100, ...options }
    this.#connect()
  }

  get state (): ClientState { return this.#state }
  get buffered (): number { return this.#buffer.length }

  /** Sends now when open; otherwise keeps it (bounded) and sends it, in order, once connected. */
  send (data: Outgoing): boolean {
    if (this.#state === 'closed') return false
    if (this.#socket !== null && this.#socket.readyState === OPEN && this.#buffer.length === 0) {
      this.#socket.send(data as never)
      return true
    }
    if (this.#buffer.length >= this.#options.maxBuffered) {
      this.emit('dropped', data)
      return false
    }
    this.#buffer.push(data)
    return true
  }

  /** Closes for good: no reconnect. */
  close (code = 1000, reason = ''): void {
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    const socket = this.#socket
    this.#socket = null
    this.#confirm()
    socket?.close(code, reason)
    this.#setState('closed')
  }

  #setState (state: ClientState): void {
    if (this.#state === state) return
    this.#state = state
    this.emit('state', state)
  }

  #connect (): void {
    if (this.#stopped) return
    if (this.#since === 0) this.#since = Date.now()
    this.#retryAfter = null
    this.#setState('connecting')
    const socket = new this.#Ctor(this.url, this.#options.protocols)
    this.#socket = socket
    let opened = false
    // Node's ws reports a refused upgrade with its status; browsers only see 1006.
    const nodeSocket = socket as unknown as { on?: (event: string, fn: (...args: any[]) => void) => void, terminate?: () => void }
    if (typeof nodeSocket.on === 'function') {
      nodeSocket.on('unexpected-response', (_request: unknown, response: { statusCode?: number, headers: Record<string, string | undefined>, resume: () => void }) => {
        const retryAfter = parseRetryAfter(response.headers['retry-after'])
        this.#retryAfter = retryAfter
        this.emit('refused', { status: response.statusCode ?? 0, retryAfter })
        response.resume()
        // Handling this event leaves ws in CONNECTING; terminate() aborts the handshake and closes (1006).
        nodeSocket.terminate?.()
      })
    }
    socket.onopen = () => {
      opened = true
      this.#attempt = 0
      this.#since = 0
      this.#setState('open')
      this.emit('open')
      this.#flush()
    }
    socket.onmessage = (event) => {
      this.#confirm()
      this.emit('message', event.data)
    }
    socket.onerror = () => {} // the close that follows decides
    socket.onclose = (event) => {
      if (this.#socket !== socket) return
      this.#socket = null
      const code = opened ? event.code : (event.code === 1005 || event.code === 1000 ? 1006 : event.code)
      const final = this.#stopped || (opened && (this.#options.finalCodes ?? DEFAULT_FINAL).concat(DEFAULT_FINAL).includes(code))
      const reason = event.reason ?? ''
      if (!final && code === 1013) {
        this.#retryAfter ??= parseHint(reason)
        this.#buffer.unshift(...this.#unconfirmed)
      }
      this.#confirm()
      this.emit('close', { code, reason, willRetry: !final })
      if (final) {
        this.#setState('closed')
        return
      }
      void this.#scheduleRetry()
    }
  }

  #flush (): void {
    const socket = this.#socket
    while (socket !== null && socket.readyState === OPEN && this.#buffer.length > 0) {
      const data = this.#buffer.shift() as Outgoing
      this.#unconfirmed.push(data)
      socket.send(data as never)
    }
    if (this.#unconfirmed.length > 0 && this.#confirmTimer === null) {
      // A socket that stays open this long, or answers, was accepted by the app.
      this.#confirmTimer = setTimeout(() => this.#confirm(), CONFIRM_AFTER_MS)
    }
  }

  #confirm (): void {
    this.#unconfirmed = []
    if (this.#confirmTimer !== null) clearTimeout(this.#confirmTimer)
    this.#confirmTimer = null
  }

  async #scheduleRetry (): Promise<void> {
    this.#attempt++
    const elapsed = Date.now() - this.#since
    if (this.#attempt > this.#options.maxAttempts || elapsed > this.#options.maxElapsedMs) {
      this.#setState('closed')
      this.emit('giveup', { attempts: this.#attempt - 1, elapsedMs: elapsed })
      return
    }
    this.#setState('waiting')
    let hint = this.#retryAfter
    let source: 'retry-after' | 'health' | 'backoff' = 'retry-after'
    if (hint === null && this.#options.healthUrl !== undefined) {
      hint = await this.#askHealth()
      source = 'health'
    }
    if (this.#stopped) return
    const random = this.#options.random ?? Math.random
    let delayMs: number
    if (hint !== null) {
      // A little jitter on top of the server's hint spreads a storm without making anyone late.
      delayMs = hint * 1000 + random() * Math.min(500, hint * 200)
    } else {
      const { initialMs = 250, maxMs = 10_000, factor = 2 } = this.#options.backoff ?? {}
      delayMs = random() * Math.min(maxMs, initialMs * factor ** (this.#attempt - 1))
      source = 'backoff'
    }
    this.emit('retry', { attempt: this.#attempt, delayMs, source })
    this.#timer = setTimeout(() => { this.#timer = null; this.#connect() }, delayMs)
  }

  /** Asks the health route when to come back: 0 when it says ready now, its Retry-After otherwise. */
  async #askHealth (): Promise<number | null> {
    try {
      const res = await fetch(this.#options.healthUrl as string)
      if (res.ok) return 0
      const header = parseRetryAfter(res.headers.get('retry-after') ?? undefined)
      if (header !== null) return header
      const body = await res.json().catch(() => null) as { retryAfter?: unknown } | null
      return typeof body?.retryAfter === 'number' ? body.retryAfter : null
    } catch {
      return null
    }
  }
}

function parseRetryAfter (value: string | undefined | null): number | null {
  if (value === undefined || value === null || value === '') return null
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds
  const date = Date.parse(value)
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000))
}

/** The gate's 1013 reason says `retry in Ns`. */
function parseHint (reason: string): number | null {
  const match = /retry in (\d+)s/.exec(reason)
  return match === null ? null : Number(match[1])
}
