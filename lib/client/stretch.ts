import { capTimer } from './backoff.js'
import type { Timers } from './timers.js'

/**
 * A stretch without a healthy connection: what maxAttempts and maxElapsedMs bound, and what the backoff
 * grows with. It begins when the client starts or a healthy connection ends, and ends only when a
 * connection stays open healthyAfterMs (a server that accepts and drops at once is still "down"), or a
 * drain ends one (see drained()).
 */
export class Stretch {
  /** The retry about to be scheduled (1 = the first after a failure). */
  attempt = 0
  /** Connection attempts that failed since the last healthy connection. */
  failed = 0
  /** When the stretch began; 0 while connected healthily. */
  #since = 0
  /** A drain has already restarted the count since the last healthy connection. */
  #drainSpent = false
  readonly #maxAttempts: number
  readonly #maxElapsedMs: number
  readonly #timers: Timers
  readonly #onDeadline: () => void

  constructor (maxAttempts: number, maxElapsedMs: number, timers: Timers, onDeadline: () => void) {
    this.#maxAttempts = maxAttempts
    this.#maxElapsedMs = maxElapsedMs
    this.#timers = timers
    this.#onDeadline = onDeadline
  }

  /** True between the start of a stretch and the next healthy connection. */
  get running (): boolean { return this.#since !== 0 }

  get elapsedMs (): number { return Date.now() - this.#since }

  /** Begins a stretch unless one runs: the maxElapsedMs clock runs in every state from here. */
  begin (): void {
    if (this.#since !== 0) return
    this.#since = Date.now()
    if (this.#maxElapsedMs !== Infinity) this.#timers.start('giveUp', capTimer(this.#maxElapsedMs), this.#onDeadline)
  }

  /** A connection stayed open long enough: attempts and the elapsed clock reset. */
  healthy (): void {
    this.#drainSpent = false
    this.#restart()
  }

  /**
   * A drain (1001 / 1012) closed an open socket: the server was serving and is going away cleanly, so the
   * attempts and the elapsed clock reset as after a healthy connection, however young the socket (one opened
   * at ready and drained 2 s later must not come back on a grown backoff). Once per healthy connection: a
   * server that accepts and closes 1001 at once still walks the client up the backoff. True when it reset.
   */
  drained (): boolean {
    if (this.#drainSpent) return false
    this.#drainSpent = true
    this.#restart()
    return true
  }

  #restart (): void {
    this.attempt = 0
    this.failed = 0
    this.#since = 0
    this.#timers.clear('giveUp')
  }

  /** A socket closed; it was an attempt, which failed unless it lasted healthyAfterMs. */
  closed (wasHealthy: boolean): void {
    if (wasHealthy) this.attempt = 0
    else this.failed++
    this.begin()
  }

  exhausted (): boolean {
    return this.failed >= this.#maxAttempts || Date.now() - this.#since >= this.#maxElapsedMs
  }
}
