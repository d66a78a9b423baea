import { PING_PREFIX } from './frames.js'
import { unref } from './timers.js'
import type { WebSocketLike } from './types.js'

const OPEN = 1

/**
 * The delivery client's live-peer check. Browsers cannot send WebSocket pings, so it is application
 * frames: every `everyMs` a `\u001Ep <n>` goes out and the server's withDelivery answers `\u001Eq <n>`
 * at once (ahead of its queue). Any frame from the server counts as a sign of life; none within
 * `timeoutMs` of a ping and the socket is declared dead. A server that stops answering is found within
 * `everyMs + timeoutMs`.
 */
export class Heartbeat {
  readonly #everyMs: number
  readonly #timeoutMs: number
  readonly #dead: (socket: WebSocketLike) => void
  #socket: WebSocketLike | null = null
  #tick: ReturnType<typeof setInterval> | undefined
  #deadline: ReturnType<typeof setTimeout> | undefined
  #n = 0

  constructor (everyMs: number, timeoutMs: number, dead: (socket: WebSocketLike) => void) {
    this.#everyMs = everyMs
    this.#timeoutMs = timeoutMs
    this.#dead = dead
  }

  start (socket: WebSocketLike): void {
    this.stop()
    if (this.#everyMs === 0) return
    this.#socket = socket
    this.#tick = setInterval(() => this.#ping(), this.#everyMs)
    unref(this.#tick)
  }

  /** A frame arrived: the server is alive. */
  seen (): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline)
    this.#deadline = undefined
  }

  stop (): void {
    if (this.#tick !== undefined) clearInterval(this.#tick)
    this.#tick = undefined
    this.seen()
    this.#socket = null
  }

  #ping (): void {
    const socket = this.#socket
    if (socket === null || socket.readyState !== OPEN) { this.stop(); return }
    this.#n = (this.#n + 1) % 1_000_000
    socket.send(`${PING_PREFIX}${this.#n}` as never)
    if (this.#deadline !== undefined) return // an earlier ping is still unanswered: its deadline stands
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined
      if (this.#socket !== socket) return
      this.stop()
      this.#dead(socket)
    }, this.#timeoutMs)
    unref(this.#deadline)
  }
}
