import { EventEmitter } from 'node:events'
import { logError } from '../common/log-error.js'
import type { ReadinessEvents, ReadinessLogger } from './api.js'

/** Transition events one drain may emit before listeners flipping readiness back and forth are cut off. */
const MAX_ANNOUNCE_ROUNDS = 100

/**
 * The readiness events, emitted so that no listener can hurt the emitter. Every listener runs,
 * whatever the others do. One that throws, or returns a promise that rejects, is logged at error
 * level naming the event, and nothing else happens: readiness, startup and the gate (which emits
 * through here too) never depend on an app's listener, and the process does not crash.
 * `onChange` listeners (no event args) are isolated the same way.
 */
export class SafeEmitter extends EventEmitter<ReadinessEvents> {
  readonly #log: ReadinessLogger
  readonly #changeListeners = new Set<() => void>()

  constructor (log: ReadinessLogger) {
    super()
    this.#log = log
  }

  override emit<K> (event: K | keyof ReadinessEvents, ...args: K extends keyof ReadinessEvents ? ReadinessEvents[K] : never): boolean {
    // The gate emits on every upgrade: with nobody listening, nothing is allocated.
    if (this.listenerCount(event as keyof ReadinessEvents) === 0) return false
    // A copy (as EventEmitter makes), with `once` wrappers that remove themselves when called.
    const listeners = this.rawListeners(event as keyof ReadinessEvents) as Array<(...values: unknown[]) => unknown>
    for (const listener of listeners) this.#call(String(event), listener, args)
    return true
  }

  /** Subscribes to every change of state; returns the unsubscribe function. Cheap: no event args. */
  onChange (listener: () => void): () => void {
    this.#changeListeners.add(listener)
    return () => { this.#changeListeners.delete(listener) }
  }

  /** Runs every onChange listener (a copy: one may unsubscribe another). */
  protected notifyChange (): void {
    for (const listener of [...this.#changeListeners]) this.#call('onChange', listener, [])
  }

  #call (event: string, listener: (...values: unknown[]) => unknown, args: unknown[]): void {
    try {
      const result = Reflect.apply(listener, this, args)
      if (typeof (result as { then?: unknown } | null)?.then === 'function') {
        (result as PromiseLike<unknown>).then(undefined, (err: unknown) => this.#failed(event, err))
      }
    } catch (err) {
      this.#failed(event, err)
    }
  }

  #failed (event: string, err: unknown): void {
    try {
      this.#log.error({ event, err: logError(err) }, `a '${event}' listener of app.readiness threw; readiness is unaffected`)
    } catch {
      // A logger that throws must not undo the isolation either.
    }
  }
}

/**
 * Emits `ready`/`notReady` until the announced verdict is the current one.
 *
 * Re-entrancy: a listener may change the state again (take the app out of service from
 * `probeChanged`, remove a probe, put it back in service from `notReady`). So the transition events
 * are never emitted from a value computed before the listeners ran: the loop compares the last
 * announced verdict with the current one, one drain at a time, so the last `ready` / `notReady` an
 * app sees always matches `isReady()` and `/health/ready`. Only the outermost call drains: a change
 * made by a transition listener is picked up by the loop after that listener returns, in order.
 * Listeners that flip the state back and forth forever are cut off after a bound (logged); the next
 * change of any kind announces the state as it is then.
 */
export class Announcer {
  /** The verdict the last `ready`/`notReady` event told listeners (none yet: not ready). */
  #announced = false
  #announcing = false
  readonly #emitter: SafeEmitter
  readonly #log: ReadinessLogger
  readonly #current: () => { ready: boolean, reason: string }

  constructor (emitter: SafeEmitter, log: ReadinessLogger, current: () => { ready: boolean, reason: string }) {
    this.#emitter = emitter
    this.#log = log
    this.#current = current
  }

  announce (): void {
    if (this.#announcing) return
    this.#announcing = true
    try {
      let rounds = 0
      while (this.#announced !== this.#current().ready) {
        if (++rounds > MAX_ANNOUNCE_ROUNDS) {
          this.#log.error({ rounds: MAX_ANNOUNCE_ROUNDS }, 'ready/notReady listeners keep flipping readiness; transition events paused until the next change')
          // `#announced` stays what was really announced: the next change catches up.
          break
        }
        const { ready, reason } = this.#current()
        this.#announced = ready
        if (ready) this.#emitter.emit('ready')
        else this.#emitter.emit('notReady', reason)
      }
    } finally {
      this.#announcing = false
    }
  }
}
