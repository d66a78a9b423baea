import { DATA_PREFIX, GAP_PREFIX, parseDataFrame, parseGapFrame, RECEIVED_PREFIX } from './frames.js'
import { unref } from './timers.js'
import type { WebSocketLike } from './types.js'

const OPEN = 1
/** Acks are batched: one frame per this many messages, or after this long, whichever comes first. */
const ACK_EVERY = 64
const ACK_AFTER_MS = 50

/**
 * Server-to-client delivery, the client's half: the server numbers what it sends to this incarnation
 * (`\u001Ed <seq> <payload>`); the inbox hands each number to the app once, in order, drops what it
 * already has (a replay after a reconnect), acks in batches (`\u001Ek <seq>`, so a streamed reply of
 * many small frames costs one ack per 64 or per 50 ms), and tells the app when the server says a
 * resume is impossible (`\u001Eg`): the app resyncs, never a silent gap.
 */
export class Inbox {
  /** The last server message handed to the app (the hello tells the server to resume after it). */
  received = 0
  #acked = 0
  #socket: WebSocketLike | null = null
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #deliver: (payload: string, seq: number) => void
  readonly #gap: (info: { from: number, to: number | null }) => void

  constructor (deliver: (payload: string, seq: number) => void, gap: (info: { from: number, to: number | null }) => void) {
    this.#deliver = deliver
    this.#gap = gap
  }

  opened (socket: WebSocketLike): void {
    this.#socket = socket
    this.#acked = 0 // the new socket's server has not heard our acks: say it again at the next batch
  }

  closed (): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#socket = null
  }

  /** True when `text` was the inbox's (a numbered server message or a gap). */
  take (text: string): boolean {
    if (text.startsWith(DATA_PREFIX)) {
      const frame = parseDataFrame(text)
      if (frame === null) return true // malformed: ours, never the app's
      // Sent in order and replayed from `received` + 1: a lower number is a repeat.
      if (frame.seq <= this.received) { this.#schedule(); return true }
      // A jump the server did not announce with a gap frame is still a gap: said, never silent.
      if (frame.seq > this.received + 1) this.#gap({ from: this.received + 1, to: frame.seq - 1 })
      this.received = frame.seq
      this.#deliver(frame.payload, frame.seq)
      this.#schedule()
      return true
    }
    if (text.startsWith(GAP_PREFIX)) {
      const gap = parseGapFrame(text)
      if (gap === null) return true
      if (gap.to !== null && gap.to > this.received) this.received = gap.to
      this.#gap(gap)
      return true
    }
    return false
  }

  #schedule (): void {
    if (this.received - this.#acked >= ACK_EVERY) { this.#ack(); return }
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#ack() }, ACK_AFTER_MS)
    unref(this.#timer)
  }

  #ack (): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    const socket = this.#socket
    if (socket === null || socket.readyState !== OPEN || this.received <= this.#acked) return
    socket.send(`${RECEIVED_PREFIX}${this.received}` as never)
    this.#acked = this.received
  }
}
