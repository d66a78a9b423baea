import { redactMessage } from '../redact/index.js'
import type { ReadinessLogger } from './api.js'

/**
 * The two manual switches: out of service (by hand, reversible: maintenance, a bad deploy being
 * investigated) and broken (liveness fails for good: a broken process is replaced, not repaired).
 * Each setter returns whether anything changed; reasons are redacted once, here.
 */
export class ServiceState {
  readonly #log: ReadinessLogger
  #outOfService: string | null = null
  #broken: string | null = null

  constructor (log: ReadinessLogger) {
    this.#log = log
  }

  get outOfService (): string | null { return this.#outOfService }
  get broken (): string | null { return this.#broken }

  setOutOfService (reason: unknown): boolean {
    const text = redactMessage(typeof reason === 'string' && reason !== '' ? reason : 'out of service')
    if (this.#outOfService === text) return false
    this.#outOfService = text
    this.#log.info({ reason: text }, 'taken out of service')
    return true
  }

  setInService (): boolean {
    if (this.#outOfService === null) return false
    this.#outOfService = null
    this.#log.info({}, 'back in service')
    return true
  }

  markBroken (reason: unknown): boolean {
    if (this.#broken !== null) return false
    this.#broken = redactMessage(typeof reason === 'string' && reason !== '' ? reason : 'marked broken')
    this.#log.error({ reason: this.#broken }, 'liveness failed: the process is broken and should be restarted')
    return true
  }
}
