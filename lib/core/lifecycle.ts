import { logError } from '../common/log-error.js'
import type { ReadinessLogger } from './api.js'

/** Work of the close step (the gate's drain). */
export type Closer = () => Promise<void>
/** The whole graceful shutdown (the shutdown plugin's sequence). */
export type ShutdownSequenceRun = () => Promise<void>

/**
 * Shutdown's flags and steps: draining (readiness 503, the app still serves), closing (nothing is
 * admitted, connections are drained), closed (every timer stopped). The closers and the shutdown
 * sequence are registered by the parts that own them; this class only knows when to run them.
 * `changed` is told of each step (the state settles, then announces it).
 */
export class Lifecycle {
  readonly #log: ReadinessLogger
  readonly #changed: (step: 'draining' | 'closing') => void
  readonly #closers: Closer[] = []
  #sequence: ShutdownSequenceRun | null = null
  #closeConnections: Promise<void> | null = null
  #draining = false
  #closing = false
  #closed = false

  constructor (log: ReadinessLogger, changed: (step: 'draining' | 'closing') => void) {
    this.#log = log
    this.#changed = changed
  }

  get draining (): boolean { return this.#draining }
  get closing (): boolean { return this.#closing }
  get closed (): boolean { return this.#closed }
  /** Closing or closed: what is aborted now did not fail, that is the shutdown working. */
  get stopping (): boolean { return this.#closing || this.#closed }

  addCloser (closer: Closer): void { this.#closers.push(closer) }
  setSequence (sequence: ShutdownSequenceRun): void { this.#sequence = sequence }

  /** Shutdown step one: readiness turns false everywhere, at once; routes keep serving. */
  startDraining (): void {
    if (this.#draining) return
    this.#draining = true
    this.#changed('draining')
  }

  /** Shutdown's close step: gated routes stop admitting and held upgrades are answered. Idempotent. */
  startClosing (): void {
    this.startDraining()
    if (this.#closing) return
    this.#closing = true
    this.#changed('closing')
  }

  /**
   * The close step: `startClosing()`, then every closer, once. Called by the shutdown sequence
   * before `app.close()`, and from `preClose` for apps that call `app.close()` themselves; later
   * calls join the first.
   */
  closeConnections (): Promise<void> {
    if (this.#closeConnections === null) {
      this.startClosing()
      this.#closeConnections = Promise.allSettled(this.#closers.map(async (closer) => await closer())).then((results) => {
        for (const result of results) {
          if (result.status === 'rejected') this.#log.error({ err: logError(result.reason) }, 'a close step failed')
        }
      })
    }
    return this.#closeConnections
  }

  /** The registered sequence; without one, the close step alone (the app closes itself). */
  async shutdown (): Promise<void> {
    if (this.#sequence !== null) return await this.#sequence()
    await this.closeConnections()
  }

  /** Every flag at once, with no events (the app is going away); returns false when already closed. */
  markClosed (): boolean {
    if (this.#closed) return false
    this.#closed = true
    this.#draining = true
    this.#closing = true
    return true
  }
}
