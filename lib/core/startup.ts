import { logError } from '../common/log-error.js'
import type { PhaseError } from '../common/errors.js'
import { redactMessage } from '../redact/index.js'
import type { Budget } from '../startup/budget.js'
import type { Platform } from '../startup/platform.js'
import { assertAcyclic, criticalPathBudget, validatePhaseGraph, type PhaseConfig } from '../startup/phase-options.js'
import { StartupRunner, type PhaseState, type StartupState } from '../startup/runner.js'
import type { ReadinessLogger, StartupMode } from './api.js'
import type { SafeEmitter } from './events.js'

/** What the startup plugin registers (`configureStartup`); each field is optional, later calls add to earlier ones. */
export interface StartupConfig {
  mode?: StartupMode
  /** The computed startup budget and the platform it was computed for. */
  budget?: Budget
  platform?: Platform
  /**
   * After a startup failure, liveness fails once this many ms have passed (null: never), so a pod
   * without a startupProbe, which would otherwise stay unready forever, is restarted.
   */
  failedStartupGraceMs?: number | null
}

/** What startup needs of the rest of the state. */
export interface StartupHooks<App> {
  app: App
  log: ReadinessLogger
  emitter: SafeEmitter
  phases: () => ReadonlyMap<string, PhaseConfig<App>>
  probeNames: () => ReadonlySet<string>
  waitForProbes: (names: string[], signal: AbortSignal) => Promise<void>
  notPassing: (names: string[]) => string[]
  /** The app is closing: phases aborted now did not fail, that is the shutdown working. */
  stopping: () => boolean
  markBroken: (reason: string) => void
  changed: () => void
}

/**
 * Startup as the state sees it: the configuration the startup plugin registered, the runner of
 * the phase graph, what is left of the budget, the one summary line once startup has ended, and
 * the liveness grace after a failure.
 */
export class StartupControl<App> {
  readonly #hooks: StartupHooks<App>
  #mode: StartupMode = 'background'
  #budget: Budget | null = null
  #platform: Platform | null = null
  #graceMs: number | null = null
  #runner: StartupRunner<App> | null = null
  #probesStarted = false
  #brokenTimer: NodeJS.Timeout | null = null
  #summaryLogged = false

  constructor (hooks: StartupHooks<App>) {
    this.#hooks = hooks
  }

  configure (config: StartupConfig): void {
    if (config.mode !== undefined) this.#mode = config.mode
    if (config.budget !== undefined) this.#budget = config.budget
    if (config.platform !== undefined) this.#platform = config.platform
    if (config.failedStartupGraceMs !== undefined) this.#graceMs = config.failedStartupGraceMs
  }

  get mode (): StartupMode { return this.#mode }
  get budget (): Budget | null { return this.#budget }
  get platform (): Platform | null { return this.#platform }
  get runner (): StartupRunner<App> | null { return this.#runner }
  get state (): StartupState { return this.#runner?.state ?? 'pending' }
  get probesStarted (): boolean { return this.#probesStarted }

  /** Probes poll from now on; returns false when they already did. */
  markProbesStarted (): boolean {
    if (this.#probesStarted) return false
    this.#probesStarted = true
    return true
  }

  /** With no phases, startup is done once the app has started (probes polling). */
  done (): boolean {
    return this.#runner === null ? this.#hooks.phases().size === 0 && this.#probesStarted : this.#runner.state === 'done'
  }

  phaseState (name: string): PhaseState | undefined { return this.#runner?.phaseState(name) }
  phaseError (name: string): PhaseError | null { return this.#runner?.phaseError(name) ?? null }

  /** The critical path of phase timeouts. */
  criticalPath (): { budget: number, path: string[] } {
    const phases = this.#hooks.phases() as ReadonlyMap<string, PhaseConfig<unknown>>
    assertAcyclic(phases)
    return criticalPathBudget(phases)
  }

  validate (): void {
    validatePhaseGraph(this.#hooks.phases() as ReadonlyMap<string, PhaseConfig<unknown>>, this.#hooks.probeNames())
  }

  /** The budget in force: the registered one, else the critical path. */
  budgetMs (): number { return this.#budget?.budgetMs ?? this.criticalPath().budget }

  /** What is left of the startup budget, in ms (0 once startup has ended). */
  remainingBudgetMs (now = Date.now()): number {
    const started = this.#runner?.startedAt
    if (this.state !== 'running' || started == null || this.#budget === null) return 0
    return Math.max(0, this.#budget.budgetMs - (now - started))
  }

  estimateRemainingMs (): number { return this.#runner?.estimateRemainingMs() ?? 0 }
  estimateIsGuess (): boolean { return this.#runner?.estimateIsGuess() === true }

  /**
   * Validates the graph and runs it; resolves when every phase is done, rejects on the first
   * failure. `timeout` bounds the whole startup.
   */
  start (timeout?: number, label?: string): Promise<void> {
    if (this.#runner === null) {
      this.validate()
      const { log, emitter } = this.#hooks
      this.#runner = new StartupRunner<App>(this.#hooks.phases().values(), {
        app: this.#hooks.app,
        waitForProbes: this.#hooks.waitForProbes,
        notPassing: this.#hooks.notPassing,
        onPhaseStarted: (name) => { log.debug({ phase: name }, 'startup phase started'); emitter.emit('phaseStarted', name) },
        onPhaseFinished: (name, durationMs) => { log.debug({ phase: name, durationMs }, 'startup phase finished'); emitter.emit('phaseFinished', name, durationMs) },
        onPhaseFailed: (name, error) => {
          if (this.#hooks.stopping()) log.info({ phase: name }, 'startup phase aborted: the app is closing')
          else log.error({ phase: name, err: logError(error) }, 'startup phase failed')
          emitter.emit('phaseFailed', name, error)
        },
        onStateChange: () => { this.#afterChange(); this.#hooks.changed() }
      })
    }
    return this.#runner.start(timeout, label)
  }

  cancelBrokenTimer (): void {
    if (this.#brokenTimer !== null) clearTimeout(this.#brokenTimer)
    this.#brokenTimer = null
  }

  close (): void {
    this.cancelBrokenTimer()
    this.#runner?.close()
  }

  /** Once startup has ended: the one summary line, and the liveness grace after a failure. */
  #afterChange (): void {
    const runner = this.#runner
    if (runner === null || this.#summaryLogged || (runner.state !== 'done' && runner.state !== 'failed')) return
    this.#summaryLogged = true
    const { log } = this.#hooks
    const phases: Record<string, number | string> = {}
    for (const [name, p] of Object.entries(runner.snapshot())) phases[name] = p.durationMs ?? p.state
    const summary: Record<string, unknown> = {
      state: runner.state,
      durationMs: (runner.finishedAt ?? Date.now()) - (runner.startedAt ?? Date.now()),
      budgetMs: this.budgetMs(),
      budgetSource: this.#budget?.source ?? 'computed',
      criticalPath: runner.criticalPath(),
      phases
    }
    if (runner.state === 'done') {
      log.info(summary, 'startup finished')
      return
    }
    if (this.#hooks.stopping()) {
      log.info(summary, 'startup aborted: the app is closing')
      return
    }
    summary.err = logError(runner.failure)
    log.error(summary, 'startup failed')
    const grace = this.#graceMs
    if (grace !== null) {
      this.#brokenTimer = setTimeout(() => {
        this.#brokenTimer = null
        this.#hooks.markBroken(`startup failed ${grace} ms ago: ${redactMessage(String(runner.failure?.message ?? ''))}`)
      }, grace)
      this.#brokenTimer.unref()
    }
  }
}
