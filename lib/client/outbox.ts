import { handlerNeverRan } from '../gate/close-reasons.js'
import type { DeliverySettings } from './delivery-options.js'
import { helloFrame, messageFrame, parseAckFrame, PONG_PREFIX, SESSION_IN_USE_CODE } from './frames.js'
import { Heartbeat } from './heartbeat.js'
import { Inbox } from './inbox.js'
import type { Outgoing, WebSocketLike } from './types.js'

/**
 * What the client keeps of what the app sends, and when it goes out. Two kinds: a plain buffer (messages
 * wait while not connected and go once, in order) and, with `delivery`, numbered frames kept until the
 * server acknowledges them and re-sent on every new connection.
 */
export interface Outbox {
  /** Messages not yet on a socket (plain) or not yet acknowledged (delivery). */
  readonly size: number
  /** Sends on `socket` when it is open, else keeps `data`; false when the bound is reached (the caller reports `dropped`). */
  send: (data: Outgoing, socket: WebSocketLike | null) => boolean
  /** A socket opened: from now on, what goes out on it may be taken back (see PlainOutbox). */
  opened: () => void
  /** What is kept goes out on `socket`, in order. */
  flush: (socket: WebSocketLike) => void
  /** A frame arrived; true when it was the outbox's own (an ack), not the app's. */
  received: (data: unknown) => boolean
  /** The connection proved healthy: what went out on it is not taken back any more. */
  healthy: () => void
  /** The socket closed with `code` and `reason`. */
  closed: (code: number, reason: string) => void
  /** Empties the outbox (the client gave up): what it held, never to be sent. */
  drain: () => Outgoing[]
}

const OPEN = 1

/**
 * Without delivery. `unconfirmed` is what went onto the current socket before anything proved the app's
 * handler saw it. A 1013 `not admitted` (the gate's accept-then-close) means it never did, so these go back
 * to the front of the buffer; any other close means they may have been handled.
 */
export class PlainOutbox implements Outbox {
  #buffer: Outgoing[] = []
  #unconfirmed: Outgoing[] | null = null
  readonly #max: number

  constructor (max: number) { this.#max = max }

  get size (): number { return this.#buffer.length }

  send (data: Outgoing, socket: WebSocketLike | null): boolean {
    if (socket !== null && socket.readyState === OPEN && this.#buffer.length === 0) {
      this.#unconfirmed?.push(data)
      socket.send(data as never)
      return true
    }
    if (this.#buffer.length >= this.#max) return false
    this.#buffer.push(data)
    return true
  }

  opened (): void { this.#unconfirmed = [] }

  flush (socket: WebSocketLike): void {
    while (this.#buffer.length > 0 && socket.readyState === OPEN) {
      const data = this.#buffer.shift() as Outgoing
      this.#unconfirmed?.push(data)
      socket.send(data as never)
    }
  }

  received (): boolean {
    // Anything from the server means the app's handler runs: the gate itself never sends data.
    this.#unconfirmed = null
    return false
  }

  healthy (): void { this.#unconfirmed = null }

  closed (code: number, reason: string): void {
    if (this.#unconfirmed !== null && handlerNeverRan(code, reason)) this.#buffer.unshift(...this.#unconfirmed)
    this.#unconfirmed = null
  }

  drain (): Outgoing[] {
    const kept = this.#buffer
    this.#buffer = []
    return kept
  }
}

interface Unacked { seq: number, frame: string, data: string }

/** What the numbered outbox tells the connection. */
export interface NumberedEvents {
  acked: (seq: number) => void
  /** The live-peer check found the server silent on `socket`: cut it and reconnect. */
  dead: (socket: WebSocketLike) => void
  /** The server refused this incarnation: another one of the session is live (`exclusive`). */
  inUse: (reason: string) => void
  /** A numbered server message, once and in order. */
  message: (data: string) => void
  /** The server could not resume: messages `from`..`to` (null: unknown) will never arrive. */
  gap: (info: { from: number, to: number | null }) => void
}

/**
 * With delivery: every text message numbered in this incarnation of the session and kept until the
 * server's ack covers it. Every socket starts with a hello (session + incarnation), so the server's
 * window is this client object's own: a reload or a second tab with the same `sessionId` numbers from 1
 * in its own window, never taken for the other's duplicates.
 */
export class NumberedOutbox implements Outbox {
  #seq = 0
  #unacked: Unacked[] = []
  readonly #session: string
  readonly #incarnation: string
  readonly #inbox: Inbox
  readonly #max: number
  readonly #events: NumberedEvents
  readonly #heartbeat: Heartbeat

  constructor (delivery: DeliverySettings, max: number, events: NumberedEvents) {
    this.#session = delivery.sessionId
    this.#incarnation = delivery.incarnation
    this.#inbox = new Inbox((data) => events.message(data), events.gap)
    this.#max = max
    this.#events = events
    this.#heartbeat = new Heartbeat(delivery.heartbeatMs, delivery.heartbeatTimeoutMs, events.dead)
  }

  get size (): number { return this.#unacked.length }

  send (data: Outgoing, socket: WebSocketLike | null): boolean {
    if (typeof data !== 'string') throw new TypeError('fastify-readiness/client: delivery mode sends text messages only')
    if (this.#unacked.length >= this.#max) return false
    const seq = ++this.#seq
    const entry = { seq, frame: messageFrame(this.#session, seq, data), data }
    this.#unacked.push(entry)
    // Only on a socket that has had its hello (flush): the open listener's own sends wait for it.
    if (socket !== null && socket.readyState === OPEN && this.#greeted === socket) socket.send(entry.frame as never)
    return true
  }

  #greeted: WebSocketLike | null = null

  opened (): void { this.#greeted = null }

  flush (socket: WebSocketLike): void {
    if (socket.readyState !== OPEN) return
    // The hello says who this is and the last server message it has: the server replays what follows.
    socket.send(helloFrame(this.#session, this.#incarnation, this.#inbox.received) as never)
    this.#inbox.opened(socket)
    this.#greeted = socket
    this.#heartbeat.start(socket)
    // Everything unacknowledged goes again, in order; the server's window drops what it already handled.
    for (const entry of this.#unacked) socket.send(entry.frame as never)
  }

  received (data: unknown): boolean {
    this.#heartbeat.seen()
    if (typeof data !== 'string') return false
    if (data.startsWith(PONG_PREFIX)) return true // a pong: the heartbeat's, never the app's
    if (this.#inbox.take(data)) return true
    const ack = parseAckFrame(data)
    if (ack === null) return false
    if (ack.session === this.#session) this.#acked(ack.seq)
    return true
  }

  healthy (): void {}

  closed (code: number, reason: string): void {
    this.#heartbeat.stop()
    this.#inbox.closed()
    this.#greeted = null
    if (code === SESSION_IN_USE_CODE) this.#events.inUse(reason)
  }

  drain (): Outgoing[] {
    this.#heartbeat.stop()
    const kept = this.#unacked.map((entry) => entry.data)
    this.#unacked = []
    return kept
  }

  #acked (seq: number): void {
    let n = 0
    while (n < this.#unacked.length && (this.#unacked[n] as Unacked).seq <= seq) n++
    if (n === 0) return
    this.#unacked.splice(0, n)
    this.#events.acked(seq)
  }
}
