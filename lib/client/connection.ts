import { retryHint } from '../gate/close-reasons.js'
import { HELD_AT_LEAST_MS, nextRetry } from './backoff.js'
import { Emitter } from './emitter.js'
import { askHealth } from './health.js'
import { readClientOptions, type ClientSettings } from './options.js'
import { NumberedOutbox, PlainOutbox, type Outbox } from './outbox.js'
import { DeliverySessionInUseError } from './session-error.js'
import { abort, detach, watchSocket } from './socket.js'
import { Stretch } from './stretch.js'
import { Timers } from './timers.js'
import type { ClientEvents, ClientState, Outgoing, ReadinessClientOptions, WebSocketLike } from './types.js'

const CONNECTING = 0

/**
 * The connection lifecycle: connect, count the attempt as healthy or failed, schedule the next one (a
 * server hint, the health route or the backoff), give up when maxAttempts or maxElapsedMs run out. What
 * is sent meanwhile is the outbox's business.
 */
export class ReadinessClient extends Emitter<ClientEvents> {
  readonly url: string
  /** Delivery mode: the session id the server dedupes on; null otherwise. */
  readonly sessionId: string | null
  /** Delivery mode: this client object's own id (the server's window is per sessionId + incarnation); null otherwise. */
  readonly incarnation: string | null
  #settings: ClientSettings
  #outbox: Outbox
  #timers = new Timers()
  #socket: WebSocketLike | null = null
  #state: ClientState = 'idle'
  #stretch: Stretch
  #hintMs: number | null = null
  #hintSource: 'retry-after' | 'health' = 'retry-after'
  #stopped = false
  #healthAbort: AbortController | null = null
  /** When the current attempt began, and how long the last refused one was held by the server (0: not held). */
  #attemptAt = 0
  #heldMs = 0

  constructor (url: string, options: ReadinessClientOptions = {}) {
    super()
    this.url = url
    this.#settings = readClientOptions(options)
    const delivery = this.#settings.delivery
    this.sessionId = delivery === null ? null : delivery.sessionId
    this.incarnation = delivery === null ? null : delivery.incarnation
    const max = this.#settings.maxBuffered
    this.#outbox = delivery === null
      ? new PlainOutbox(max)
      : new NumberedOutbox(delivery, max, {
        acked: (seq) => this.emit('acked', seq),
        dead: (socket) => this.#dead(socket),
        inUse: (reason) => this.emit('error', new DeliverySessionInUseError(delivery.sessionId, reason)),
        message: (data) => this.emit('message', data),
        gap: (info) => this.emit('resumeFailed', info)
      })
    // An open socket may still prove healthy when the deadline passes; its close checks the clock again.
    const deadline = (): void => { if (this.#state !== 'open' && !this.#stopped) this.#giveUp() }
    this.#stretch = new Stretch(this.#settings.maxAttempts, this.#settings.maxElapsedMs, this.#timers, deadline)
    this.#stretch.begin()
    this.#connect()
  }

  get state (): ClientState { return this.#state }
  /** Messages not yet on a socket (without delivery) or not yet acknowledged (with delivery). */
  get buffered (): number { return this.#outbox.size }
  /** Connection attempts that failed since the last healthy connection. */
  get attempts (): number { return this.#stretch.failed }

  /** Sends now when open; otherwise keeps it (bounded) and sends it, in order, once connected. */
  send (data: Outgoing): boolean {
    if (this.#state === 'closed') return false
    if (this.#outbox.send(data, this.#socket)) return true
    this.emit('dropped', data)
    return false
  }

  /** Closes for good: no reconnect. */
  close (code = 1000, reason = ''): void {
    this.#stopped = true
    this.#timers.clearAll()
    this.#healthAbort?.abort()
    this.#healthAbort = null
    const socket = this.#socket
    this.#socket = null
    if (socket !== null) {
      detach(socket)
      if (socket.readyState === CONNECTING) abort(socket)
      else socket.close(code, reason)
    }
    this.#setState('closed')
  }

  #setState (state: ClientState): void {
    if (this.#state === state) return
    this.#state = state
    this.emit('state', state)
  }

  #giveUp (): void {
    const elapsedMs = this.#stretch.elapsedMs
    this.close(1000, '')
    // Nothing kept is ever sent now: say so, instead of leaving it stuck in a buffer.
    for (const data of this.#outbox.drain()) this.emit('dropped', data)
    this.emit('giveup', { attempts: this.#stretch.failed, elapsedMs })
  }

  #connect (): void {
    if (this.#stopped) return
    this.#hintMs = null
    this.#hintSource = 'retry-after'
    this.#heldMs = 0
    this.#attemptAt = Date.now()
    this.#setState('connecting')
    let socket: WebSocketLike
    try {
      socket = new this.#settings.WebSocket(this.url, this.#settings.protocols)
    } catch (err) {
      // A malformed URL is the caller's bug, not a reason to retry.
      this.close()
      throw err
    }
    this.#socket = socket
    this.#timers.start('handshake', this.#settings.handshakeTimeoutMs, () => {
      if (this.#socket !== socket) return
      this.#socket = null
      detach(socket)
      abort(socket)
      this.#closed(1006, 'handshake timeout', false)
    })
    watchSocket(socket, {
      refused: (status, hintMs, retryAfter) => {
        this.#hintMs = hintMs
        this.emit('refused', { status, retryAfter })
      },
      open: () => {
        if (this.#socket !== socket) return
        this.#timers.clear('handshake')
        this.#outbox.opened()
        this.#timers.start('healthy', this.#settings.healthyAfterMs, () => this.#healthy())
        this.#setState('open')
        this.emit('open')
        if (this.#socket === socket) this.#outbox.flush(socket)
      },
      message: (data) => {
        if (this.#socket !== socket) return
        if (!this.#outbox.received(data)) this.emit('message', data)
      },
      close: (code, reason, opened) => {
        if (this.#socket !== socket) return
        this.#socket = null
        this.#closed(code, reason, opened)
      }
    })
  }

  /** The delivery live-peer check heard nothing: cut the socket (no closing handshake with a silent peer) and reconnect. */
  #dead (socket: WebSocketLike): void {
    if (this.#socket !== socket) return
    this.#socket = null
    detach(socket)
    abort(socket)
    this.#closed(1006, 'heartbeat timeout', true)
  }

  /** Open long enough: the server is not bouncing us. Only now do attempts and the elapsed clock reset. */
  #healthy (): void {
    this.#stretch.healthy()
    this.#outbox.healthy()
  }

  #closed (code: number, reason: string, opened: boolean): void {
    this.#timers.clear('handshake')
    const wasHealthy = opened && !this.#timers.active('healthy') && !this.#stretch.running
    this.#timers.clear('healthy')
    const final = this.#stopped || (opened && this.#settings.finalCodes.includes(code))
    this.#outbox.closed(code, reason)
    if (!final) {
      const hint = retryHint(reason)
      if (hint !== null) { this.#hintMs = hint * 1000; this.#hintSource = 'retry-after' }
      // Refused after the server held the upgrade (the gate's hold timeout): the next attempt is held too,
      // which is the fastest way in, so it goes without waiting for the hint.
      const heldMs = !opened && reason !== 'handshake timeout' ? Date.now() - this.#attemptAt : 0
      if (heldMs >= HELD_AT_LEAST_MS) { this.#heldMs = heldMs; this.#hintMs = null }
      const drained = opened && (code === 1001 || code === 1012) && this.#stretch.drained()
      this.#stretch.closed(wasHealthy || drained)
    }
    // willRetry is the truth: the close that exhausts maxAttempts or maxElapsedMs says false (giveup follows).
    const exhausted = !final && this.#stretch.exhausted()
    this.emit('close', { code, reason, willRetry: !final && !exhausted })
    if (final) {
      this.close()
      return
    }
    if (this.#stopped) return // a close listener called close()
    this.#scheduleRetry()
  }

  #scheduleRetry (): void {
    // maxAttempts: N failed attempts in a row, then no N+1st (nor a health request for it).
    if (this.#stretch.exhausted()) {
      this.#giveUp()
      return
    }
    const attempt = ++this.#stretch.attempt
    this.#setState('waiting')
    const { healthUrl, handshakeTimeoutMs, backoff, random } = this.#settings
    const elapsedMs = this.#stretch.elapsedMs
    const plan = (hintMs: number | null): { delayMs: number, source: 'retry-after' | 'health' | 'backoff' } => {
      const { delayMs, source } = nextRetry(attempt, hintMs, this.#heldMs, elapsedMs, backoff, random)
      return { delayMs, source: source === 'hint' ? this.#hintSource : 'backoff' }
    }
    const retry = (delay: { delayMs: number, source: 'retry-after' | 'health' | 'backoff' }, waitMs: number): void => {
      this.emit('retry', { attempt, ...delay })
      this.#timers.start('retry', waitMs, () => this.#connect(), true)
    }
    if (this.#hintMs !== null || this.#heldMs > 0 || healthUrl === undefined) {
      const delay = plan(this.#hintMs)
      retry(delay, delay.delayMs)
      return
    }
    // The health route is asked while the backoff runs, never before it: one that is slow or hangs cannot
    // delay the retry. Its answer, if it comes first, is a hint like any other.
    const backoffOnly = plan(null)
    const since = Date.now()
    const controller = typeof AbortController === 'function' ? new AbortController() : null
    this.#healthAbort = controller
    let asking = true
    this.#timers.start('retry', backoffOnly.delayMs, () => {
      asking = false
      this.#healthAbort?.abort()
      this.#healthAbort = null
      this.emit('retry', { attempt, ...backoffOnly })
      this.#connect()
    }, true)
    void askHealth(healthUrl, handshakeTimeoutMs, controller).then((health) => {
      if (!asking || this.#stopped) return
      asking = false
      this.#healthAbort = null
      if (health === null) {
        retry(backoffOnly, Math.max(0, backoffOnly.delayMs - (Date.now() - since)))
        return
      }
      this.#hintMs = health
      this.#hintSource = 'health'
      const delay = plan(health)
      // A hint counts from its answer; the backoff from when the wait began.
      retry(delay, delay.source === 'backoff' ? Math.max(0, delay.delayMs - (Date.now() - since)) : delay.delayMs)
    })
  }
}
