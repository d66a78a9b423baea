import { raceAbort } from '../common/abort.js'
import { ProbeTimeoutError, safeRead, toError } from '../common/errors.js'
import { parseResult, type ParsedResult } from './result.js'
import { redactError, type RedactedError } from '../redact/index.js'
import { downDelayMs } from './schedule.js'

export type { ProbeResult } from './result.js'

/**
 * A probe's check. It gets a signal that aborts when the run times out or the
 * app closes. It passes by resolving (with nothing, or with a `ProbeResult`
 * that may say `warn` and carry what it measured) and fails by throwing.
 */
export type ProbeCheck = (signal: AbortSignal) => unknown

export interface ProbeConfig {
  check: ProbeCheck
  /** Longest a single run may take, in ms (default 1000). */
  timeout: number
  /** Delay between runs once the probe has passed, in ms (default 2000). */
  interval: number
  /**
   * Base of the schedule while the probe is not passing (before its first pass,
   * or once it has turned `fail`), in ms (default 50): the delays grow with the
   * time the dependency has been down (lib/probes/schedule.ts) so that one back
   * after T ms is seen within `startInterval + 5 % of T` ms for T from 1 s
   * (never later than 1.15 x interval + 5 ms), and one that stays down is checked
   * at most 60 times in the first 30 s, then once per `interval` or less (with defaults).
   */
  startInterval: number
  /** A failing critical probe makes the app not ready; a non-critical one only degrades it (`warn`). */
  critical: boolean
  /** Consecutive failures before a passing probe turns to `fail` (default 1). */
  failureThreshold: number
  /** Consecutive successes before a failing probe turns to `pass` (default 1). */
  successThreshold: number
}

/** `warn`: the check passed but said it is degraded (it still counts as passing). */
export type ProbeStatus = 'unknown' | 'pass' | 'warn' | 'fail'

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
  /** Failed runs since the probe was added (`consecutiveFailures` resets on a pass; this does not). */
  failures: number
  /** Already redacted; never contains a stack trace or credentials. */
  lastError: RedactedError | null
  /** What the last run measured, when its check resolved with a result (JSON-safe, bounded). */
  observedValue?: unknown
  observedUnit?: string
  /** Extra data from the last run's result (JSON-safe, bounded, secret-looking keys masked). */
  details?: Record<string, unknown>
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
  #latencyMs: number | null = null
  #lastCheckAt: number | null = null
  #lastSuccessAt: number | null = null
  #lastFailureAt: number | null = null
  #consecutiveSuccesses = 0
  #consecutiveFailures = 0
  #runs = 0
  #failures = 0
  #lastError: RedactedError | null = null
  #inFlight: Promise<ProbeStatus> | null = null
  #inFlightAbort: AbortController | null = null
  /** The last check's own promise until it settles: a check that ignores its signal must not run twice at once. */
  #unsettled: Promise<void> | null = null
  #observed: ParsedResult | null = null
  /** When the current run of failures began (performance.now()), null while passing. */
  #downSince: number | null = null
  /** When the last recorded run began (performance.now()): the schedule counts its gaps from there. */
  #lastStarted: number | null = null
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
  /** `pass` or `warn`. */
  get passing (): boolean { return this.#status === 'pass' || this.#status === 'warn' }
  get critical (): boolean { return this.config.critical }
  /** The last failure, already redacted. */
  get lastError (): RedactedError | null { return this.#lastError }

  /**
   * Delay until the next background run: the configured interval while the
   * probe passes (its cadence, and the failure threshold counts runs at it);
   * while it is not passing, a delay that grows with the time it has been down
   * (lib/probes/schedule.ts), jittered so a fleet does not check in step. The
   * gap is counted from the last run's start: the time that run took comes out
   * of the delay.
   */
  nextDelay (random: () => number = Math.random, now: number = performance.now()): number {
    const { interval, startInterval } = this.config
    if (this.passing) return interval
    const started = this.#lastStarted ?? now
    const downFor = this.#downSince === null ? 0 : Math.max(0, started - this.#downSince)
    return downDelayMs(downFor, { startInterval, interval }, random, Math.max(0, now - started))
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
    // What the check owns is closed best-effort: a close that throws must not fail app.close().
    const close = safeRead(this.config.check, 'close')
    if (typeof close === 'function') await Promise.resolve().then(() => close.call(this.config.check)).catch(() => {})
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
      failures: this.#failures,
      lastError: this.#lastError,
      ...observed(this.#observed)
    }
  }

  #tick (): void {
    this.#timer = null
    if (!this.#polling) return
    // run() never rejects, but a listener that throws must not become an
    // unhandled rejection (a crash) nor stop the polling.
    void this.run().catch(() => {}).then(() => {
      if (!this.#polling || this.#timer !== null) return
      this.#timer = setTimeout(() => this.#tick(), this.nextDelay())
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
    let result: ParsedResult | null = null
    try {
      if (this.#unsettled !== null) {
        // The previous check ignored its signal and is still running: wait for
        // it (within this run's timeout) instead of starting a second one.
        const previous = this.#unsettled
        await raceAbort(() => previous, controller.signal).catch(() => {
          throw new ProbeTimeoutError(this.name, timeout, ' (its previous check, which ignored the abort signal, has not finished)')
        })
      }
      // `new Promise` turns a synchronous throw into a rejection.
      const pending = new Promise<unknown>((resolve) => { resolve(check(controller.signal)) })
      const settled: Promise<void> = pending.then(noop, noop).finally(() => {
        if (this.#unsettled === settled) this.#unsettled = null
      })
      this.#unsettled = settled
      // A check that ignores its signal must still not hold the probe past its timeout.
      const value = await raceAbort(() => pending, controller.signal)
      // A check that blocked the event loop never let the timer fire: it still ran too long.
      const took = performance.now() - started
      if (took > timeout) throw new ProbeTimeoutError(this.name, timeout, ` (the check blocked for ${Math.round(took)} ms)`)
      result = parseResult(value)
      if (result.status === 'fail') failure = new Error(result.message)
    } catch (err) {
      failure = toError(err)
    } finally {
      clearTimeout(timer)
      this.#inFlightAbort = null
    }
    this.#record(failure, result, performance.now() - started, started)
    return this.#status
  }

  #record (failure: Error | null, result: ParsedResult | null, latency: number, started: number): void {
    // A run cut short by stop() says nothing about the dependency.
    if (this.#stopped) return
    const now = Date.now()
    this.#runs++
    this.#lastStarted = started
    this.#latencyMs = Math.round(latency * 100) / 100
    this.#lastCheckAt = now
    const previous = this.#status
    this.#observed = result
    if (failure === null) {
      this.#consecutiveSuccesses++
      this.#consecutiveFailures = 0
      this.#lastSuccessAt = now
      const level = result?.status === 'warn' ? 'warn' : 'pass'
      // Between pass and warn there is no flapping to guard against; from
      // fail/unknown the success threshold applies.
      if (this.passing || this.#consecutiveSuccesses >= this.config.successThreshold) {
        this.#status = level
        this.#downSince = null
      }
    } else {
      this.#consecutiveFailures++
      this.#failures++
      this.#consecutiveSuccesses = 0
      this.#lastFailureAt = now
      // Down since this run began: the schedule's delays grow from here.
      if (this.#downSince === null) this.#downSince = started
      this.#lastError = redactError(failure)
      // Until the first verdict there is nothing to flap from: one failure is enough to say `fail`.
      const threshold = previous === 'unknown' ? 1 : this.config.failureThreshold
      if (previous !== 'fail' && this.#consecutiveFailures >= threshold) this.#status = 'fail'
      try {
        this.#onError(this, failure)
      } catch {
        // A logging listener that throws must not turn a failed check into a crash.
      }
    }
    if (this.#status !== previous) this.#onChange(this, previous)
  }
}

function noop (): void {}

function observed (result: ParsedResult | null): Pick<ProbeSnapshot, 'observedValue' | 'observedUnit' | 'details'> {
  if (result === null) return {}
  const out: Pick<ProbeSnapshot, 'observedValue' | 'observedUnit' | 'details'> = {}
  if (result.observedValue !== undefined) out.observedValue = result.observedValue
  if (result.observedUnit !== undefined) out.observedUnit = result.observedUnit
  if (result.details !== undefined) out.details = result.details
  return out
}

function iso (ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}
