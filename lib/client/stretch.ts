import { capTimer } from './backoff.js'
import type { Timers } from './timers.js'

/**
 * A stretch without a healthy connection: what maxAttempts and maxElapsedMs bound, and what the backoff
 * grows with. It begins when the client starts or a healthy connection ends, and ends only when a
 * connection stays open healthyAfterMs (a server that accepts and drops at once is still "down").
 */
export class Stretch {
  /** The retry about to be scheduled (1 = the first after a failure). */
  attempt = 0
  /** Connection attempts that failed since the last healthy connection. */
  failed = 0
  /** When the stretch began; 0 while connected healthily. */
  #since = 0
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
