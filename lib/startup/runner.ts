import { raceAbort } from '../common/abort.js'
import { PhaseError, toError } from '../common/errors.js'
import { logError } from '../common/log-error.js'
import type { PhaseConfig } from './phase-options.js'
import { redactError, redactMessage, type RedactedError } from '../redact/index.js'

/** Expected duration of a phase before any phase has finished, in ms. */
const FIRST_GUESS_MS = 1000
/** The least a phase under way is expected to still need, in ms. */
const MIN_LEFT_MS = 250
/** Each step of the schedule past a wrong guess: this share of the time since guessing began. */
export const PAST_GUESS_SHARE = 0.75

/**
 * What a phase past a mere guess is still expected to need, in ms, after `guessingForMs` ms spent on
 * guesses: the time to the next moment of a fixed schedule, 1, 2, 4, 7, 12, 21, 37, 65 s after
 * guessing began (each step three quarters of the time so far), at least half a second away. A client
 * that waits what it is told is refused at about those moments, log-many times, and is in at most
 * about three quarters of the start plus 2 s late (1.2-1.5 s after a 6 s start with 200 clients).
 * Fixed moments rather than a share of the time elapsed: Retry-After rounds this to the nearest
 * second, so a client that came back late (each trip's latency) is steered back onto the schedule
 * instead of drifting later with every retry (measured with 200 clients: three quarters of the time
 * elapsed came in 1.9-3.8 s after a 6 s start).
 */
export function pastGuessMs (guessingForMs: number): number {
  let at = FIRST_GUESS_MS
  while (at <= guessingForMs + 500) at += Math.max(1000, Math.round(PAST_GUESS_SHARE * at / 1000) * 1000)
  return at - guessingForMs
}

export type PhaseState = 'pending' | 'waiting' | 'running' | 'done' | 'failed' | 'skipped'
export type StartupState = 'pending' | 'running' | 'done' | 'failed'

export interface PhaseSnapshot {
  state: PhaseState
  after: string[]
  probes: string[]
  timeoutMs: number
  startedAt: string | null
  finishedAt: string | null
  durationMs: number | null
  /** Redacted; never a stack trace. */
  error: RedactedError | null
}

export interface StartupHost<App> {
  app: App
  /** Resolves when every named probe passes; rejects when the signal aborts. */
  waitForProbes: (names: string[], signal: AbortSignal) => Promise<void>
  /** The named probes that do not pass now (for timeout messages). */
  notPassing: (names: string[]) => string[]
  onPhaseStarted: (name: string) => void
  onPhaseFinished: (name: string, durationMs: number) => void
  onPhaseFailed: (name: string, error: PhaseError) => void
  onStateChange: () => void
}

interface PhaseRecord<App> {
  config: PhaseConfig<App>
  state: PhaseState
  startedAt: number | null
  finishedAt: number | null
  error: PhaseError | null
  /** `error` as snapshots show it, computed once when it is stored. */
  shown: RedactedError | null
  controller: AbortController | null
}

/**
 * Runs a validated phase graph: each phase starts the moment the phases it
 * comes after are done, waits for its probes, then runs its work, all bounded
 * by its own timeout. Independent branches run in parallel, so startup lasts
 * as long as the critical path. A failure skips everything downstream of it.
 */
export class StartupRunner<App> {
  #phases = new Map<string, PhaseRecord<App>>()
  #dependents = new Map<string, string[]>()
  #host: StartupHost<App>
  #state: StartupState = 'pending'
  #startedAt: number | null = null
  #finishedAt: number | null = null
  #failure: PhaseError | null = null
  #remaining = 0
  #closed = false
  #settle: { resolve: () => void, reject: (err: Error) => void } | null = null
  /** PhaseErrors this runner made itself (timeouts, aborts): their text holds no user data. */
  readonly #own = new WeakSet<object>()
  #completion: Promise<void> | null = null

  constructor (phases: Iterable<PhaseConfig<App>>, host: StartupHost<App>) {
    this.#host = host
    for (const config of phases) {
      this.#phases.set(config.name, { config, state: 'pending', startedAt: null, finishedAt: null, error: null, shown: null, controller: null })
      this.#dependents.set(config.name, [])
    }
    for (const { config } of this.#phases.values()) {
      for (const dep of config.after) this.#dependents.get(dep)?.push(config.name)
    }
  }

  get state (): StartupState { return this.#state }
  get failure (): PhaseError | null { return this.#failure }
  /** The first failure as snapshots show it (redacted and cut once, when it was stored). */
  get failureShown (): RedactedError | null { return this.#failure === null ? null : this.#phases.get(this.#failure.phase)?.shown ?? null }
  get startedAt (): number | null { return this.#startedAt }
  get finishedAt (): number | null { return this.#finishedAt }
  has (name: string): boolean { return this.#phases.has(name) }
  phaseState (name: string): PhaseState | undefined { return this.#phases.get(name)?.state }
  phaseError (name: string): PhaseError | null { return this.#phases.get(name)?.error ?? null }

  /**
   * Starts the graph once; later calls return the same completion promise.
   * `timeout` bounds the whole startup: phases still unfinished then fail with it.
   */
  start (timeout?: number, label = 'startup.timeout'): Promise<void> {
    if (this.#completion !== null) return this.#completion
    this.#completion = new Promise<void>((resolve, reject) => { this.#settle = { resolve, reject } })
    // Background mode never awaits the promise; a failure is reported through
    // status and events, so an unobserved rejection must not crash the process.
    this.#completion.catch(() => {})
    this.#state = 'running'
    this.#startedAt = Date.now()
    this.#remaining = this.#phases.size
    if (timeout !== undefined) {
      const timer = setTimeout(() => this.#expire(timeout, label), timeout)
      this.#completion.then(() => clearTimeout(timer), () => clearTimeout(timer))
    }
    if (this.#remaining === 0) this.#finish()
    this.#host.onStateChange()
    for (const record of this.#phases.values()) {
      if (record.config.after.length === 0) this.#launch(record)
    }
    return this.#completion
  }

  /** Aborts every phase under way (the app is closing). */
  close (): void {
    this.#closed = true
    for (const record of this.#phases.values()) {
      record.controller?.abort(this.#ownError(record.config.name, 'aborted: the app is closing'))
    }
  }

  #expire (timeout: number, label: string): void {
    if (this.#state !== 'running') return
    const unfinished = [...this.#phases.values()].filter((r) => r.state === 'pending' || r.state === 'waiting' || r.state === 'running')
    const names = unfinished.map((r) => r.config.name).join(', ')
    // Only phases under way are aborted; pending ones always wait on one of
    // them and are skipped when it fails, so the error names where time went.
    for (const record of unfinished) {
      record.controller?.abort(this.#ownError(record.config.name, `did not finish within ${label} ${timeout} ms (unfinished: ${names})`))
    }
  }

  snapshot (): Record<string, PhaseSnapshot> {
    const out: Record<string, PhaseSnapshot> = {}
    for (const [name, r] of this.#phases) {
      out[name] = {
        state: r.state,
        after: r.config.after,
        probes: r.config.probes,
        timeoutMs: r.config.timeout,
        startedAt: r.startedAt === null ? null : new Date(r.startedAt).toISOString(),
        finishedAt: r.finishedAt === null ? null : new Date(r.finishedAt).toISOString(),
        durationMs: r.startedAt !== null && r.finishedAt !== null ? r.finishedAt - r.startedAt : null,
        error: r.shown
      }
    }
    return out
  }

  /**
   * A running estimate of the time startup still needs, in ms. A phase is
   * expected to take its `expected` hint, else the average of the phases
   * finished so far, else a first guess of 1 s; one under way, what is left of
   * that, and once past it an estimate that grows with the time it has run
   * (past a guess: `pastGuessMs`, the next moment of a widening schedule).
   * Never past a phase's timeout (it fails then). Pending phases follow the
   * graph. Figures: docs/configuration.md, "Retry-After estimates".
   */
  estimateRemainingMs (now = Date.now()): number {
    return this.#estimate(now).ms
  }

  /**
   * Whether the estimate rests on a guess that has already proven wrong (a
   * phase without a hint running past what was expected of it). Callers round
   * such an estimate to the nearest second rather than up: it aims at a fixed
   * moment (`pastGuessMs`), which a client that came back late should still hit.
   */
  estimateIsGuess (now = Date.now()): boolean {
    return this.#estimate(now).guessing
  }

  #estimate (now: number): { ms: number, guessing: boolean } {
    if (this.#state !== 'running') return { ms: 0, guessing: false }
    let guessing = false
    const durations: number[] = []
    for (const r of this.#phases.values()) if (r.state === 'done') durations.push((r.finishedAt as number) - (r.startedAt as number))
    const average = durations.length > 0 ? durations.reduce((a, b) => a + b, 0) / durations.length : null
    const whole = (r: PhaseRecord<App>): number => Math.min(r.config.timeout, r.config.expected ?? average ?? FIRST_GUESS_MS)
    // When the guesses on a phase's path began: its own start, or that of the
    // phase without a hint it waited for last (a guess too), and so on back.
    const guessedSince = (r: PhaseRecord<App>): number => {
      let last: PhaseRecord<App> | null = null
      for (const dep of r.config.after) {
        const d = this.#phases.get(dep) as PhaseRecord<App>
        if (d.finishedAt !== null && (last === null || d.finishedAt > (last.finishedAt as number))) last = d
      }
      return last !== null && last.config.expected === undefined ? guessedSince(last) : r.startedAt as number
    }
    const left = (r: PhaseRecord<App>): number => {
      const elapsed = Math.max(0, now - (r.startedAt as number))
      const expected = whole(r)
      // Within what it should take: the rest of it. Past a declared hint, the
      // phase is late: the estimate grows smoothly with the overrun. Past a mere
      // guess (history or the first guess), the guess was wrong: expect the
      // next moment of a schedule that grows by three quarters of the time
      // spent on guesses (pastGuessMs), so a slow phase costs a few refusals,
      // not one a second, and a retry lands at most about three quarters of
      // the start past readiness.
      const overrun = elapsed - expected
      if (overrun >= 0 && r.config.expected === undefined) guessing = true
      const guess = overrun < 0 ? -overrun : r.config.expected !== undefined ? Math.max(MIN_LEFT_MS, 2 * overrun) : pastGuessMs(now - guessedSince(r))
      return Math.min(guess, Math.max(0, r.config.timeout - elapsed))
    }
    const memo = new Map<string, number>()
    const finishAt = (r: PhaseRecord<App>): number => {
      const cached = memo.get(r.config.name)
      if (cached !== undefined) return cached
      let at = now
      if (r.state === 'done') at = r.finishedAt as number
      else if (r.state === 'waiting' || r.state === 'running') at = now + left(r)
      else if (r.state === 'pending') {
        let depsDone = now
        for (const dep of r.config.after) depsDone = Math.max(depsDone, finishAt(this.#phases.get(dep) as PhaseRecord<App>))
        at = depsDone + whole(r)
      }
      memo.set(r.config.name, at)
      return at
    }
    let last = now
    for (const r of this.#phases.values()) last = Math.max(last, finishAt(r))
    return { ms: Math.round(last - now), guessing }
  }

  /** The chain of finished phases that determined when startup ended. */
  criticalPath (): string[] {
    const later = (r: PhaseRecord<App>, than: PhaseRecord<App> | null): boolean =>
      r.finishedAt !== null && (than === null || r.finishedAt > (than.finishedAt as number) ||
        // Same millisecond: the phase that comes after the other is later.
        (r.finishedAt === than.finishedAt && r.config.after.includes(than.config.name)))
    let last: PhaseRecord<App> | null = null
    for (const r of this.#phases.values()) if (later(r, last)) last = r
    const path: string[] = []
    while (last !== null) {
      path.unshift(last.config.name)
      let prev: PhaseRecord<App> | null = null
      for (const dep of last.config.after) {
        const r = this.#phases.get(dep) as PhaseRecord<App>
        if (later(r, prev)) prev = r
      }
      last = prev
    }
    return path
  }

  async #launch (record: PhaseRecord<App>): Promise<void> {
    if (this.#closed) return
    const { name, probes, run, timeout } = record.config
    const controller = new AbortController()
    record.controller = controller
    record.state = 'waiting'
    record.startedAt = Date.now()
    this.#host.onPhaseStarted(name)
    this.#host.onStateChange()
    const timer = setTimeout(() => {
      const waitingOn = record.state === 'waiting' ? this.#host.notPassing(probes) : []
      const detail = waitingOn.length > 0 ? ` while waiting for probes: ${waitingOn.join(', ')}` : record.state === 'running' ? ' while running' : ''
      controller.abort(this.#ownError(name, `timed out after ${timeout} ms${detail}`))
    }, timeout)
    let failure: PhaseError | null = null
    try {
      if (probes.length > 0) await this.#host.waitForProbes(probes, controller.signal)
      record.state = 'running'
      this.#host.onStateChange()
      if (run !== undefined) await raceAbort(() => run(this.#host.app, controller.signal), controller.signal)
    } catch (err) {
      failure = this.#toFailure(name, controller.signal.aborted ? controller.signal.reason : err)
    }
    clearTimeout(timer)
    record.controller = null
    // Outside the try: what runs after the phase (events, other phases) cannot turn its success into a failure.
    if (failure === null) this.#complete(record)
    else this.#fail(record, failure)
  }

  /**
   * The error a phase fails with, redacted and bounded once, here: it reaches
   * `/health`, the log, `phaseFailed` listeners, `waitForPhase` and, in
   * blocking mode, the error `ready()`/`listen()` reject with, which apps log
   * whole (pino prints `cause` too). So the message is redacted, and the cause
   * is a redacted copy (its frames kept, for debugging), never the original.
   */
  #toFailure (name: string, reason: unknown): PhaseError {
    if (this.#own.has(reason as object)) return reason as PhaseError
    return new PhaseError(name, `failed: ${redactMessage(toError(reason).message)}`, { cause: logError(reason) })
  }

  #ownError (name: string, message: string): PhaseError {
    const error = new PhaseError(name, message)
    this.#own.add(error)
    return error
  }

  #store (record: PhaseRecord<App>, error: PhaseError): void {
    record.error = error
    record.shown = redactError(error)
  }

  // State first (done, the count, startup's own state), then the host hears of it.
  #complete (record: PhaseRecord<App>): void {
    record.state = 'done'
    record.finishedAt = Date.now()
    this.#remaining--
    if (this.#remaining === 0 && this.#failure === null) this.#finish()
    this.#host.onPhaseFinished(record.config.name, record.finishedAt - (record.startedAt as number))
    for (const dependent of this.#dependents.get(record.config.name) ?? []) {
      const next = this.#phases.get(dependent) as PhaseRecord<App>
      if (next.state === 'pending' && next.config.after.every((d) => this.#phases.get(d)?.state === 'done')) void this.#launch(next)
    }
    this.#host.onStateChange()
  }

  #fail (record: PhaseRecord<App>, error: PhaseError): void {
    record.state = 'failed'
    record.finishedAt = Date.now()
    this.#store(record, error)
    this.#skipDependents(record.config.name)
    if (this.#failure === null) {
      this.#failure = error
      this.#state = 'failed'
      this.#finishedAt = Date.now()
      this.#settle?.reject(error)
    }
    this.#host.onPhaseFailed(record.config.name, error)
    this.#host.onStateChange()
  }

  #skipDependents (name: string): void {
    for (const dependent of this.#dependents.get(name) ?? []) {
      const record = this.#phases.get(dependent) as PhaseRecord<App>
      if (record.state !== 'pending') continue
      record.state = 'skipped'
      this.#store(record, this.#ownError(dependent, `skipped: phase "${name}" before it did not finish`))
      this.#skipDependents(dependent)
    }
  }

  #finish (): void {
    this.#state = 'done'
    this.#finishedAt = Date.now()
    this.#settle?.resolve()
  }
}
