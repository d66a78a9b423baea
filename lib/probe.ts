import { raceAbort } from './abort.js'
import { ProbeTimeoutError, toError } from './errors.js'
import { redactError, type RedactedError } from './redact.js'

/** A probe's check. It gets a signal that aborts when the run times out or the app closes. */
export type ProbeCheck = (signal: AbortSignal) => unknown

export interface ProbeConfig {
  check: ProbeCheck
  /** Longest a single run may take, in ms (default 1000). */
  timeout: number
  /** Delay between runs once the probe has passed, in ms (default 2000). */
  interval: number
  /** Delay between runs until the probe first passes, in ms (default 50): a dependency that comes up is seen at once. */
  startInterval: number
  /** A failing critical probe makes the app not ready; a non-critical one only degrades it (`warn`). */
  critical: boolean
  /** Consecutive failures before a passing probe turns to `fail` (default 1). */
  failureThreshold: number
  /** Consecutive successes before a failing probe turns to `pass` (default 1). */
  successThreshold: number
}

export type ProbeStatus = 'unknown' | 'pass' | 'fail'

export interface ProbeSnapshot {
  status: ProbeStatus
  critical: boolean
  /** Duration of the last finished run, in ms. */
  latencyMs: number | null
  lastCheckAt: string | null
  lastSuccessAt: string | null
  lastFailureAt: string | null
  consecutiveSuccesses: number
  consecutiveFailures: number
  runs: number
  /** Already redacted; never contains a stack trace or credentials. */
  lastError: RedactedError | null
}

type ChangeListener = (probe: Probe, previous: ProbeStatus) => void

/**
 * One named dependency check: runs with a timeout and an AbortSignal, polls in
 * the background, caches its result and shares one in-flight run between
 * concurrent callers. It knows nothing of HTTP.
 */
export class Probe {
  readonly name: string
  readonly config: ProbeConfig
  #status: ProbeStatus = 'unknown'
  #hasPassed = false
  #latencyMs: number | null = null
  #lastCheckAt: number | null = null
  #lastSuccessAt: number | null = null
  #lastFailureAt: number | null = null
  #consecutiveSuccesses = 0
  #consecutiveFailures = 0
  #runs = 0
  #lastError: RedactedError | null = null
  #inFlight: Promise<ProbeStatus> | null = null
  #inFlightAbort: AbortController | null = null
  #timer: NodeJS.Timeout | null = null
  #polling = false
  #stopped = false
  #onChange: ChangeListener
  #onError: (probe: Probe, error: Error) => void

  constructor (name: string, config: ProbeConfig, onChange: ChangeListener, onError: (probe: Probe, error: Error) => void = () => {}) {
    this.name = name
    this.config = config
    this.#onChange = onChange
    this.#onError = onError
  }

  get status (): ProbeStatus { return this.#status }
  get passing (): boolean { return this.#status === 'pass' }
  get critical (): boolean { return this.config.critical }
  /** The last failure, already redacted. */
  get lastError (): RedactedError | null { return this.#lastError }

  /** Delay until the next background run: fast until the first success, then the configured interval. */
  get nextDelay (): number {
    return this.#hasPassed ? this.config.interval : this.config.startInterval
  }

  /**
   * Runs the check now, or joins the run already under way (single-flight), and
   * resolves with the probe's status after it. Never rejects.
   */
  run (): Promise<ProbeStatus> {
    if (this.#inFlight === null) {
      this.#inFlight = this.#runOnce().finally(() => { this.#inFlight = null })
    }
    return this.#inFlight
  }

  start (): void {
    if (this.#polling) return
    this.#polling = true
    this.#tick()
  }

  /**
   * Stops polling, aborts a run under way and closes what the check owns (a
   * built-in probe's own connection); the cached result stays readable.
   */
  async stop (): Promise<void> {
    this.#polling = false
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#inFlightAbort?.abort(new Error(`probe "${this.name}" stopped`))
    await (this.config.check as { close?: () => Promise<void> }).close?.()
  }

  snapshot (): ProbeSnapshot {
    return {
      status: this.#status,
      critical: this.config.critical,
      latencyMs: this.#latencyMs,
      lastCheckAt: iso(this.#lastCheckAt),
      lastSuccessAt: iso(this.#lastSuccessAt),
      lastFailureAt: iso(this.#lastFailureAt),
      consecutiveSuccesses: this.#consecutiveSuccesses,
      consecutiveFailures: this.#consecutiveFailures,
      runs: this.#runs,
      lastError: this.#lastError
    }
  }

  #tick (): void {
    this.#timer = null
    if (!this.#polling) return
    void this.run().then(() => {
      if (!this.#polling || this.#timer !== null) return
      this.#timer = setTimeout(() => this.#tick(), this.nextDelay)
      // Polling alone must never keep a process alive; a run in progress is
      // bounded by its (ref'd) timeout and aborted by stop().
      this.#timer.unref()
    })
  }

  async #runOnce (): Promise<ProbeStatus> {
    const { timeout, check } = this.config
    const controller = new AbortController()
    this.#inFlightAbort = controller
    const timer = setTimeout(() => controller.abort(new ProbeTimeoutError(this.name, timeout)), timeout)
    const started = performance.now()
    let failure: Error | null = null
    try {
      // A check that ignores its signal must still not hold the probe past its timeout.
      await raceAbort(() => check(controller.signal), controller.signal)
    } catch (err) {
      failure = toError(err)
    } finally {
      clearTimeout(timer)
      this.#inFlightAbort = null
    }
    this.#record(failure, performance.now() - started)
    return this.#status
  }

  #record (failure: Error | null, latency: number): void {
    // A run cut short by stop() says nothing about the dependency.
    if (this.#stopped) return
    const now = Date.now()
    this.#runs++
    this.#latencyMs = Math.round(latency * 100) / 100
    this.#lastCheckAt = now
    const previous = this.#status
    if (failure === null) {
      this.#consecutiveSuccesses++
      this.#consecutiveFailures = 0
      this.#lastSuccessAt = now
      if (previous !== 'pass' && this.#consecutiveSuccesses >= this.config.successThreshold) {
        this.#status = 'pass'
        this.#hasPassed = true
      }
    } else {
      this.#consecutiveFailures++
      this.#consecutiveSuccesses = 0
      this.#lastFailureAt = now
      this.#lastError = redactError(failure)
      // Until the first verdict there is nothing to flap from: one failure is enough to say `fail`.
      const threshold = previous === 'unknown' ? 1 : this.config.failureThreshold
      if (previous !== 'fail' && this.#consecutiveFailures >= threshold) this.#status = 'fail'
      this.#onError(this, failure)
    }
    if (this.#status !== previous) this.#onChange(this, previous)
  }
}

function iso (ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}
