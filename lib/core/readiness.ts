import { EventEmitter } from 'node:events'
import { raceAbort } from '../common/abort.js'
import type { Budget } from '../startup/budget.js'
import type { Platform } from '../startup/platform.js'
import { ReadinessOptionError, WaitTimeoutError, type PhaseError } from '../common/errors.js'
import { logError } from '../common/log-error.js'
import { redactMessage } from '../redact/index.js'
import { describe, durationOption, isPlainObject, nameOption, readOptions } from '../common/options.js'
import { assertAcyclic, criticalPathBudget, validatePhaseGraph, type PhaseConfig } from '../startup/phase-options.js'
import { Probe, type ProbeCheck, type ProbeSnapshot, type ProbeStatus } from '../probes/probe.js'
import { parseProbe, type ProbeObjectDefinition } from '../probes/options.js'
import type { ConnectionReadiness, WebSocketReadiness } from './websocket-view.js'
import { StartupRunner, type PhaseSnapshot, type StartupState } from '../startup/runner.js'

export interface ReadinessLogger {
  debug: (obj: object, msg?: string) => void
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
}

export interface ReadinessEvents {
  phaseStarted: [name: string]
  phaseFinished: [name: string, durationMs: number]
  phaseFailed: [name: string, error: PhaseError]
  probeChanged: [name: string, status: ProbeStatus, previous: ProbeStatus]
  ready: []
  notReady: [reason: string]
  /** Readiness turned 503 for shutdown; the app still serves (the shutdown delay). */
  draining: []
  /** The close step began: gated routes refuse, held upgrades get 503, sockets are drained. */
  closing: []
  /** Taken out of service by hand (`setOutOfService`), or put back (`reason` null). */
  outOfService: [reason: string | null]
  /** Liveness turned to fail: `markBroken()`, or a failed startup after its grace. */
  broken: [reason: string]
  /** The gate let an upgrade (or a gated request) through; `heldMs` is 0 when it was not held. */
  gateAdmitted: [route: string, heldMs: number]
  /** The gate refused an upgrade or a gated request before any handler ran. */
  gateRefused: [route: string, reason: GateRefusal]
  /** `closeOnLoss` closed this many open sockets of a route with 1013. */
  gateClosedOnLoss: [route: string, count: number]
  /** The drain closed sockets: `closed` answered the close frame, `terminated` were cut. */
  socketsDrained: [code: number, closed: number, terminated: number]
}

/** Why the gate refused: not ready (reject / accept-then-close), a hold that ended without readiness, or shutdown. */
export type GateRefusal = 'not-ready' | 'timeout' | 'full' | 'closing' | 'ungated-route'

export type StartupMode = 'background' | 'blocking'

export interface ReadinessStatus {
  ready: boolean
  /** `pass` ready; `warn` ready but a non-critical probe fails; `fail` not ready. */
  status: 'pass' | 'warn' | 'fail'
  draining: boolean
  /** The reason given to `setOutOfService()`, or null. */
  outOfService: string | null
  /** Liveness: false once the process is broken (`markBroken()`, or a failed startup after its grace). */
  live: boolean
  /** Why liveness fails, or null. */
  broken: string | null
  startup: {
    state: StartupState
    mode: StartupMode
    startedAt: string | null
    finishedAt: string | null
    durationMs: number | null
    /** The most startup may take: the critical path of phase timeouts plus a margin, or an override. */
    budgetMs: number
    budgetSource: 'option' | 'env' | 'computed'
    /** A running estimate of the time startup still needs. */
    estimatedRemainingMs: number
    platform: string
    environment: string
    criticalPath: string[]
    /** Redacted: credentials masked, first line only. */
    error: { phase: string, message: string } | null
  }
  phases: Record<string, PhaseSnapshot>
  probes: Record<string, ProbeSnapshot>
  /** Names of unmet requirements of full readiness. */
  missing: string[]
}

/**
 * What an app may use of `app.readiness`: state, waits, events, its probes,
 * manual control and shutdown. Everything else on the object is the suite's
 * own wiring and may change in any release.
 */
export interface ReadinessApi extends Pick<EventEmitter<ReadinessEvents>, 'on' | 'once' | 'off' | 'addListener' | 'removeListener' | 'listenerCount'> {
  /** Full readiness: every phase done, every critical probe passing, in service, not draining. O(1). */
  isReady: () => boolean
  /** Liveness: false once the process is broken (`markBroken()`, or a failed startup after its grace). */
  isLive: () => boolean
  /** Snapshot of everything: startup, phases, probes, missing requirements. */
  status: () => ReadinessStatus
  readonly startupState: StartupState
  readonly draining: boolean
  readonly closing: boolean
  readonly degraded: boolean
  /** The reason given to `setOutOfService()`, or null. */
  readonly outOfService: string | null
  /** Why liveness fails, or null. */
  readonly broken: string | null
  /** The WebSocket layer's view; without the gate plugin, plain readiness and no routes. */
  readonly websocket: WebSocketReadiness
  meets: (requires?: readonly string[]) => boolean
  missing: (requires?: readonly string[]) => string[]
  waitFor: (requires?: readonly string[], options?: { timeout?: number, signal?: AbortSignal }) => Promise<void>
  waitForPhase: (name: string, options?: { timeout?: number, signal?: AbortSignal }) => Promise<void>
  onChange: (listener: () => void) => () => void
  retryAfterSeconds: () => number
  estimateRemainingMs: () => number
  /** Adds a probe (also at runtime: it counts from its first verdict). */
  addProbe: (name: string, check: ProbeCheck | ProbeObjectDefinition, options?: Omit<ProbeObjectDefinition, 'check'>) => ReadinessApi
  /** The incident's name for `addProbe`. */
  registerReadinessCheck: (name: string, check: ProbeCheck | ProbeObjectDefinition, options?: Omit<ProbeObjectDefinition, 'check'>) => ReadinessApi
  removeProbe: (name: string) => Promise<boolean>
  checkProbe: (name: string) => Promise<ProbeStatus>
  probeNames: () => string[]
  setOutOfService: (reason?: string) => void
  setInService: () => void
  signalNotReady: (reason?: string) => void
  signalReady: () => void
  setReadinessStatus: (ready: boolean, reason?: string) => void
  markBroken: (reason?: string) => void
  /** Graceful shutdown: readiness 503, the shutdown delay, the drain, then close. */
  shutdown: () => Promise<void>
  /** Shutdown's first step alone: readiness reports 503 while the app keeps serving. */
  startDraining: () => void
  /** Shutdown's close step alone: gated routes admit nothing, held upgrades get 503, sockets are drained. */
  closeConnections: () => Promise<void>
}

/**
 * The one source of truth for "can this instance take work?". Probes, startup
 * phases and the draining flag feed it; health routes and the WebSocket gate
 * read it. Everything here is O(1) on the read path: state is recomputed when
 * something changes, never per request.
 */
export class Readiness<App = unknown> extends EventEmitter<ReadinessEvents> implements ReadinessApi {
  readonly #app: App
  readonly #log: ReadinessLogger
  readonly #probes = new Map<string, Probe>()
  readonly #phaseConfigs = new Map<string, PhaseConfig<App>>()
  readonly #changeListeners = new Set<() => void>()
  /** Probes every requirement check includes (event-loop pressure): no route is exempt. */
  readonly #everywhere = new Set<string>()
  #websocket: WebSocketReadiness | null = null
  readonly #noGate: WebSocketReadiness
  #runner: StartupRunner<App> | null = null
  #startupMode: StartupMode = 'background'
  #budget: Budget | null = null
  #platform: Platform | null = null
  #probesStarted = false
  #draining = false
  #closing = false
  readonly #closers: Array<() => Promise<void>> = []
  #closeConnections: Promise<void> | null = null
  #shutdownSequence: (() => Promise<void>) | null = null
  #closed = false
  #ready = false
  /** The verdict the last `ready`/`notReady` event told listeners (none yet: not ready). */
  #announced = false
  #announcing = false
  #notReadyReason = ''
  #criticalNotPassing = 0
  #nonCriticalFailing = 0
  #outOfService: string | null = null
  #broken: string | null = null
  #brokenTimer: NodeJS.Timeout | null = null
  /** ms after a failed startup until liveness fails; null keeps liveness up. */
  #failedStartupGraceMs: number | null = null
  /** Probes added at runtime to a ready app: they count once they have a verdict, not before. */
  readonly #provisional = new Set<string>()
  /** Probes removed at runtime: a route that named one no longer waits for it. */
  readonly #removed = new Set<string>()
  #summaryLogged = false

  constructor (app: App, log: ReadinessLogger) {
    super()
    this.#app = app
    this.#log = log
    // Without the gate there are no gated routes: "ready for connections" is plain readiness.
    this.#noGate = Object.freeze({
      isReadyForConnections: () => this.isReady(),
      getConnectionReadiness: (): ConnectionReadiness => ({ ready: this.isReady(), draining: this.#draining, held: 0, open: 0, routes: {} }),
      drainBudgetMs: 0
    })
  }

  /**
   * Every listener runs, whatever the others do. One that throws, or returns a
   * promise that rejects, is logged at error level naming the event, and
   * nothing else happens: readiness, startup and the gate (which emits through
   * here too) never depend on an app's listener, and the process does not crash.
   */
  override emit<K> (event: K | keyof ReadinessEvents, ...args: K extends keyof ReadinessEvents ? ReadinessEvents[K] : never): boolean {
    // The gate emits on every upgrade: with nobody listening, nothing is allocated.
    if (this.listenerCount(event as keyof ReadinessEvents) === 0) return false
    // A copy (as EventEmitter makes), with `once` wrappers that remove themselves when called.
    const listeners = this.rawListeners(event as keyof ReadinessEvents) as Array<(...values: unknown[]) => unknown>
    for (const listener of listeners) this.#callListener(String(event), listener, args)
    return true
  }

  /**
   * The WebSocket layer's view (`isReadyForConnections`, `getConnectionReadiness`).
   * Without the gate plugin: plain readiness and no routes, never null.
   */
  get websocket (): WebSocketReadiness { return this.#websocket ?? this.#noGate }
  /** Set once by the WebSocket gate when it is registered. */
  set websocket (value: WebSocketReadiness) {
    if (typeof value?.isReadyForConnections !== 'function' || typeof value.getConnectionReadiness !== 'function') {
      throw new TypeError('app.readiness.websocket is set by the WebSocket gate plugin only')
    }
    this.#websocket = value
  }
  /** Whether the WebSocket gate is registered. */
  get gated (): boolean { return this.#websocket !== null }

  // ---------------------------------------------------------------- probes

  /**
   * Adds a named probe. Before startup it simply joins the set; after startup
   * it starts polling at once. Added to a ready app, it does not un-ready it
   * before it has actually failed: it counts from its first verdict.
   */
  addProbe (name: string, check: ProbeCheck | ProbeObjectDefinition, options: Omit<ProbeObjectDefinition, 'check'> = {}): this {
    const path = `probes.${String(name)}`
    nameOption('probes', name)
    this.#assertFreeName(path, name)
    const extra = readProbeOptions(path, options)
    const definition = typeof check === 'function' ? { ...extra, check } : isPlainObject(check) ? { ...readOptions(path, check), ...extra } : check
    const probe = new Probe(name, parseProbe(path, definition), (p, previous) => this.#onProbeChange(p, previous), (p, err) => {
      this.#log.debug({ probe: p.name, err: logError(err) }, 'readiness probe check failed')
    })
    this.#probes.set(name, probe)
    this.#removed.delete(name)
    if (this.#ready) this.#provisional.add(name)
    this.#countProbes()
    if (this.#probesStarted) probe.start()
    this.#recompute('probe added')
    return this
  }

  /** The incident's name for `addProbe` (`register_readiness_check`). */
  registerReadinessCheck (name: string, check: ProbeCheck | ProbeObjectDefinition, options: Omit<ProbeObjectDefinition, 'check'> = {}): this {
    return this.addProbe(name, check, options)
  }

  /**
   * Removes a probe at runtime: it stops polling, closes what it owns, and no
   * longer counts anywhere (a route or phase that named it stops waiting for
   * it). Resolves false when no such probe exists.
   */
  async removeProbe (name: string): Promise<boolean> {
    const probe = this.#probes.get(name)
    if (probe === undefined) return false
    this.#probes.delete(name)
    this.#provisional.delete(name)
    this.#everywhere.delete(name)
    this.#removed.add(name)
    this.#countProbes()
    this.#log.info({ probe: name }, 'readiness probe removed')
    this.#recompute(`probe ${name} removed`)
    await probe.stop()
    return true
  }

  /** Names of the registered probes. */
  probeNames (): string[] { return [...this.#probes.keys()] }

  /** Makes a registered probe part of every route's requirements, not only of full readiness. */
  requireEverywhere (name: string): void {
    if (!this.#probes.has(name)) throw new ReadinessOptionError('requireEverywhere', `names unknown probe "${name}"`)
    this.#everywhere.add(name)
    this.#recompute(`${name} required everywhere`)
  }

  /** The IETF health format's componentType of a probe, when its check declares one. */
  componentType (name: string): string | undefined {
    return (this.#probes.get(name)?.config.check as { componentType?: string } | undefined)?.componentType
  }

  /** Runs a probe now (joining a run under way) and resolves with its status. */
  async checkProbe (name: string): Promise<ProbeStatus> {
    const probe = this.#probes.get(name)
    if (probe === undefined) throw new ReadinessOptionError('probe', `"${name}" is not registered`)
    return await probe.run()
  }

  // ---------------------------------------------------------------- phases

  addPhases (phases: Iterable<PhaseConfig<App>>): void {
    if (this.#runner !== null) throw new ReadinessOptionError('phases', 'cannot change after startup has begun')
    for (const phase of phases) {
      this.#assertFreeName(`phases.${phase.name}`, phase.name)
      this.#phaseConfigs.set(phase.name, phase)
    }
  }

  set startupMode (mode: StartupMode) { this.#startupMode = mode }
  /** Set by the startup plugin: the computed startup budget and the platform it was computed for. */
  configureBudget (budget: Budget, platform: Platform): void {
    this.#budget = budget
    this.#platform = platform
  }

  get budget (): Budget | null { return this.#budget }
  get platform (): Platform | null { return this.#platform }

  /** What is left of the startup budget, in ms (0 once startup has ended). */
  remainingBudgetMs (now = Date.now()): number {
    const started = this.#runner?.startedAt
    if (this.startupState !== 'running' || started == null || this.#budget === null) return 0
    return Math.max(0, this.#budget.budgetMs - (now - started))
  }

  /** A running estimate of the time startup still needs, in ms. */
  estimateRemainingMs (): number {
    return this.#runner?.estimateRemainingMs() ?? 0
  }

  /**
   * How long the gate holds an upgrade when no hold timeout is configured:
   * during startup, what is left of the budget (holding past it is pointless:
   * startup has failed by then), after a dependency loss about one probe
   * cycle; never more than `cap` (the gate's `maxHoldTimeout`, 5 s by default:
   * browsers' and most clients' handshake timeouts are not much longer).
   */
  suggestedHoldMs (cap = 5000): number {
    if (this.#draining) return 0
    let ms = 0
    if (this.startupState === 'running') {
      ms = this.remainingBudgetMs()
    } else {
      for (const probe of this.#probes.values()) {
        if (probe.critical && !probe.passing) ms = Math.max(ms, probe.config.interval + probe.config.timeout)
      }
    }
    return Math.min(cap, Math.max(500, ms))
  }
  get startupMode (): StartupMode { return this.#startupMode }

  /** The critical path of phase timeouts. */
  startupBudget (): { budget: number, path: string[] } {
    assertAcyclic(this.#phaseConfigs as ReadonlyMap<string, PhaseConfig<unknown>>)
    return criticalPathBudget(this.#phaseConfigs as ReadonlyMap<string, PhaseConfig<unknown>>)
  }

  validate (): void {
    validatePhaseGraph(this.#phaseConfigs as ReadonlyMap<string, PhaseConfig<unknown>>, new Set(this.#probes.keys()))
  }

  /** Starts background polling of every probe (idempotent). */
  startProbes (): void {
    if (this.#probesStarted || this.#closed) return
    this.#probesStarted = true
    for (const probe of this.#probes.values()) probe.start()
    this.#recompute('started')
  }

  /**
   * Validates the graph and runs it; resolves when every phase is done, rejects
   * on the first failure. `timeout` bounds the whole startup.
   */
  startup (timeout?: number, label?: string): Promise<void> {
    if (this.#runner === null) {
      this.validate()
      this.#runner = new StartupRunner<App>(this.#phaseConfigs.values(), {
        app: this.#app,
        waitForProbes: (names, signal) => this.waitFor(names, { signal }),
        notPassing: (names) => names.filter((n) => this.#probes.get(n)?.passing !== true),
        onPhaseStarted: (name) => { this.#log.debug({ phase: name }, 'startup phase started'); this.emit('phaseStarted', name) },
        onPhaseFinished: (name, durationMs) => { this.#log.debug({ phase: name, durationMs }, 'startup phase finished'); this.emit('phaseFinished', name, durationMs) },
        onPhaseFailed: (name, error) => {
          // Phases aborted because the app is closing did not fail: that is the shutdown working.
          if (this.#closing || this.#closed) this.#log.info({ phase: name }, 'startup phase aborted: the app is closing')
          else this.#log.error({ phase: name, err: logError(error) }, 'startup phase failed')
          this.emit('phaseFailed', name, error)
        },
        onStateChange: () => { this.#afterStartupChange(); this.#recompute('startup') }
      })
    }
    return this.#runner.start(timeout, label)
  }

  get startupState (): StartupState { return this.#runner?.state ?? 'pending' }

  /**
   * Resolves when the named phase is done. Rejects when it fails (or is
   * skipped), when `timeout` ms pass first, or when it does not exist.
   */
  async waitForPhase (name: string, { timeout, signal }: { timeout?: number, signal?: AbortSignal } = {}): Promise<void> {
    const ms = waitTimeout('waitForPhase.timeout', timeout)
    if (!this.#phaseConfigs.has(name)) {
      throw new ReadinessOptionError('waitForPhase', `names unknown phase "${name}" (known phases: ${[...this.#phaseConfigs.keys()].join(', ') || 'none'})`)
    }
    await this.#waitUntil(() => {
      const state = this.#runner?.phaseState(name)
      if (state === 'failed' || state === 'skipped') throw this.#runner?.phaseError(name) as Error
      return state === 'done'
    }, `phase "${name}"`, ms, signal)
  }

  // ---------------------------------------------------------------- manual control

  /**
   * Takes the instance out of service by hand (maintenance, a bad deploy being
   * investigated): readiness and every health group answer 503, gated routes
   * admit nothing new; open sockets stay (unless a route has `closeOnLoss`).
   * Liveness is unaffected. Like lightship's `signalNotReady()` and Spring's
   * `ReadinessState.REFUSING_TRAFFIC`.
   */
  setOutOfService (reason = 'out of service'): void {
    const text = redactMessage(typeof reason === 'string' && reason !== '' ? reason : 'out of service')
    if (this.#outOfService === text) return
    this.#outOfService = text
    this.#log.info({ reason: text }, 'taken out of service')
    this.#recompute('out of service', () => this.emit('outOfService', text))
  }

  /** Puts the instance back in service; readiness follows phases and probes again. */
  setInService (): void {
    if (this.#outOfService === null) return
    this.#outOfService = null
    this.#log.info({}, 'back in service')
    this.#recompute('in service', () => this.emit('outOfService', null))
  }

  /** lightship's name for `setOutOfService`. */
  signalNotReady (reason?: string): void { this.setOutOfService(reason) }
  /** lightship's name for `setInService`. */
  signalReady (): void { this.setInService() }
  /** The incident's `set_readiness_status`: `false` takes the instance out of service, `true` puts it back. */
  setReadinessStatus (ready: boolean, reason?: string): void {
    if (ready) this.setInService()
    else this.setOutOfService(reason)
  }

  /** Whether the instance is out of service by hand, and why. */
  get outOfService (): string | null { return this.#outOfService }

  /**
   * Declares the process broken for good: `/health/live` answers 503 from now
   * on, so the orchestrator restarts it (Spring's `LivenessState.BROKEN`).
   * There is no way back: a broken process is replaced, not repaired.
   */
  markBroken (reason = 'marked broken'): void {
    if (this.#broken !== null) return
    this.#broken = redactMessage(typeof reason === 'string' && reason !== '' ? reason : 'marked broken')
    if (this.#brokenTimer !== null) clearTimeout(this.#brokenTimer)
    this.#brokenTimer = null
    this.#log.error({ reason: this.#broken }, 'liveness failed: the process is broken and should be restarted')
    const reasonText = this.#broken
    this.#recompute('broken', () => this.emit('broken', reasonText))
  }

  /** Liveness: true until the process is marked broken. */
  isLive (): boolean { return this.#broken === null }
  /** Why liveness fails, or null. */
  get broken (): string | null { return this.#broken }

  /**
   * Set by the startup plugin: after a startup failure, liveness fails once
   * this many ms have passed (null: never), so a pod without a startupProbe,
   * which would otherwise stay unready forever, is restarted.
   */
  set failedStartupGraceMs (ms: number | null) { this.#failedStartupGraceMs = ms }

  // ---------------------------------------------------------------- reading

  /** Full readiness: every phase done, every critical probe passing, not draining. O(1). */
  isReady (): boolean { return this.#ready }
  /** Readiness reports 503 for shutdown (from the first step on); the app may still be serving. */
  get draining (): boolean { return this.#draining }
  /** The close step has begun: nothing is admitted any more. Implies `draining`. */
  get closing (): boolean { return this.#closing }
  /** True when a non-critical probe fails: ready, but degraded. */
  get degraded (): boolean { return this.#nonCriticalFailing > 0 }

  /**
   * Whether the named requirements (phases or probes) hold. With no names,
   * every requirement of full readiness. Draining does not count here (the app
   * keeps serving through the shutdown delay); nothing holds once closing.
   */
  meets (requires: readonly string[] | undefined): boolean {
    if (this.#closing || this.#closed || this.#outOfService !== null) return false
    if (requires === undefined) return this.#startupDone() && this.#criticalNotPassing === 0
    for (const name of requires) if (!this.#holds(name)) return false
    for (const name of this.#everywhere) if (!this.#holds(name)) return false
    return true
  }

  /** The unmet ones among the named requirements (or among full readiness's). */
  missing (requires?: readonly string[]): string[] {
    const out: string[] = []
    if (this.#draining) out.push('draining')
    if (this.#outOfService !== null) out.push('out-of-service')
    if (requires === undefined) {
      if (this.#phaseConfigs.size === 0 && !this.#startupDone()) out.push('startup')
      for (const name of this.#phaseConfigs.keys()) if (!this.#holds(name)) out.push(name)
      for (const [name, probe] of this.#probes) if (probe.critical && !this.#holds(name)) out.push(name)
    } else {
      for (const name of requires) if (!this.#holds(name)) out.push(name)
      for (const name of this.#everywhere) if (!requires.includes(name) && !this.#holds(name)) out.push(name)
    }
    return out
  }

  /**
   * A health group's verdict: every included phase and probe holds (all phases
   * and critical probes when `include` is undefined), minus `exclude`; false
   * while draining or out of service. The names that do not hold come back.
   */
  groupMissing (include: readonly string[] | undefined, exclude: readonly string[]): string[] {
    const out: string[] = []
    if (this.#draining) out.push('draining')
    if (this.#outOfService !== null) out.push('out-of-service')
    // Pressure (required everywhere) counts in every group unless the group excludes it.
    const names = [...(include ?? [...this.#phaseConfigs.keys(), ...[...this.#probes].filter(([, p]) => p.critical).map(([n]) => n)]), ...this.#everywhere]
    const seen = new Set<string>()
    for (const name of names) {
      if (seen.has(name) || exclude.includes(name)) continue
      seen.add(name)
      if (!this.#holds(name)) out.push(name)
    }
    if (include === undefined && this.#phaseConfigs.size === 0 && !this.#startupDone() && !exclude.includes('startup')) out.push('startup')
    return out
  }

  /** Checks that every name is a known phase or probe; used to validate route requirements. */
  assertKnown (path: string, names: readonly string[]): void {
    for (const name of names) {
      if (!this.#phaseConfigs.has(name) && !this.#probes.has(name)) {
        throw new ReadinessOptionError(path, `names "${name}", which is neither a phase nor a probe (phases: ${[...this.#phaseConfigs.keys()].join(', ') || 'none'}; probes: ${[...this.#probes.keys()].join(', ') || 'none'})`)
      }
    }
  }

  /**
   * Resolves once the requirements hold (event-driven: no polling). Rejects
   * with a WaitTimeoutError after `timeout` ms, or with the signal's reason.
   */
  async waitFor (requires: readonly string[] | undefined, { timeout, signal }: { timeout?: number, signal?: AbortSignal } = {}): Promise<void> {
    const ms = waitTimeout('waitFor.timeout', timeout)
    await this.#waitUntil(() => this.meets(requires), requires === undefined ? 'readiness' : requires.join(', '), ms, signal)
  }

  /** Subscribes to every change of state; returns the unsubscribe function. Cheap: no event args. */
  onChange (listener: () => void): () => void {
    this.#changeListeners.add(listener)
    return () => { this.#changeListeners.delete(listener) }
  }

  /**
   * Seconds a refused client should wait before retrying. During startup a
   * short wait (readiness can come any moment); after a dependency loss, about
   * one probe cycle; while draining, at once elsewhere.
   */
  retryAfterSeconds (): number {
    if (this.#draining) return 1
    if (this.#outOfService !== null) return 30 // by hand: nothing says when it ends
    const state = this.startupState
    let ms = 1000
    if (state === 'running' || state === 'pending') {
      ms = this.estimateRemainingMs()
    } else if (state === 'failed') {
      ms = 30_000 // this instance will not become ready: look elsewhere for a while
    } else {
      // After a loss, readiness can come back at the failing probe's next run.
      for (const probe of this.#probes.values()) {
        if (probe.critical && !probe.passing) ms = Math.max(ms, probe.config.interval)
      }
    }
    // Rounded up: a client told to come back just before readiness is refused
    // once more and then waits at least another second, so coming back a little
    // after it costs no more delay and one refusal less. Except when the estimate
    // rests on a guess already proven wrong (it errs high): then to the nearest second.
    const seconds = state === 'running' && this.#runner?.estimateIsGuess() === true ? Math.round(ms / 1000) : Math.ceil(ms / 1000)
    return Math.min(30, Math.max(1, seconds))
  }

  status (): ReadinessStatus {
    const runner = this.#runner
    const probes: Record<string, ProbeSnapshot> = {}
    for (const [name, probe] of this.#probes) probes[name] = probe.snapshot()
    const failure = runner?.failure ?? null
    return {
      ready: this.#ready,
      status: this.#ready ? (this.degraded ? 'warn' : 'pass') : 'fail',
      draining: this.#draining,
      outOfService: this.#outOfService,
      live: this.#broken === null,
      broken: this.#broken,
      startup: {
        state: this.startupState,
        mode: this.#startupMode,
        startedAt: runner?.startedAt != null ? new Date(runner.startedAt).toISOString() : null,
        finishedAt: runner?.finishedAt != null ? new Date(runner.finishedAt).toISOString() : null,
        durationMs: runner?.startedAt != null && runner.finishedAt != null ? runner.finishedAt - runner.startedAt : null,
        budgetMs: this.#budget?.budgetMs ?? this.startupBudget().budget,
        budgetSource: this.#budget?.source ?? 'computed',
        estimatedRemainingMs: this.estimateRemainingMs(),
        platform: this.#platform?.name ?? 'local',
        environment: this.#platform?.environment ?? 'development',
        criticalPath: runner?.criticalPath() ?? [],
        // Redacted once, when the runner stored it: not on every request.
        error: failure === null ? null : { phase: failure.phase, message: runner?.failureShown?.message ?? '' }
      },
      phases: runner?.snapshot() ?? {},
      probes,
      missing: this.missing()
    }
  }

  // ---------------------------------------------------------------- lifecycle

  /** Shutdown step one: readiness turns false everywhere, at once; routes keep serving. */
  startDraining (): void {
    if (this.#draining) return
    this.#draining = true
    this.#recompute('draining', () => this.emit('draining'))
  }

  /** Shutdown's close step: gated routes stop admitting and held upgrades are answered. Idempotent. */
  startClosing (): void {
    this.startDraining()
    if (this.#closing) return
    this.#closing = true
    this.#recompute('closing', () => this.emit('closing'))
  }

  /**
   * Adds work of the close step (the gate's drain). Closers run once, together,
   * when `closeConnections()` is first called.
   */
  addCloser (closer: () => Promise<void>): void {
    this.#closers.push(closer)
  }

  /**
   * The close step: `startClosing()`, then every closer, once. Called by the
   * shutdown sequence before `app.close()`, and from `preClose` for apps that
   * call `app.close()` themselves; later calls join the first.
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

  /** Set by the shutdown plugin: the sequence `shutdown()` runs. */
  setShutdownSequence (sequence: () => Promise<void>): void {
    this.#shutdownSequence = sequence
  }

  /**
   * Graceful shutdown: readiness turns 503, the app keeps serving for the
   * shutdown delay, connections are drained, then the app closes. Without the
   * shutdown plugin: the close step, then nothing else (the app closes itself).
   */
  async shutdown (): Promise<void> {
    if (this.#shutdownSequence !== null) return await this.#shutdownSequence()
    await this.closeConnections()
  }

  /** Stops every timer, aborts every run under way and closes the probes' own connections. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#draining = true
    this.#closing = true
    if (this.#brokenTimer !== null) clearTimeout(this.#brokenTimer)
    this.#brokenTimer = null
    this.#runner?.close()
    this.#recompute('closed')
    const results = await Promise.allSettled([...this.#probes.values()].map((probe) => probe.stop()))
    for (const result of results) {
      // Closing a probe's own connection is best effort: the app is going away anyway.
      if (result.status === 'rejected') this.#log.info({ err: logError(result.reason) }, 'a probe failed to close')
    }
  }

  // ---------------------------------------------------------------- internals

  #holds (name: string): boolean {
    const probe = this.#probes.get(name)
    if (probe !== undefined) return probe.passing || (probe.status === 'unknown' && this.#provisional.has(name))
    if (this.#removed.has(name)) return true
    return this.#runner?.phaseState(name) === 'done'
  }

  #assertFreeName (path: string, name: string): void {
    if (this.#probes.has(name)) throw new ReadinessOptionError(path, `"${name}" is already a probe: probe and phase names must be unique`)
    if (this.#phaseConfigs.has(name)) throw new ReadinessOptionError(path, `"${name}" is already a phase: probe and phase names must be unique`)
  }

  #onProbeChange (probe: Probe, previous: ProbeStatus): void {
    // Its first verdict is in: from now on it counts like any other probe.
    this.#provisional.delete(probe.name)
    this.#countProbes()
    const entry: Record<string, unknown> = { probe: probe.name, status: probe.status, previous, critical: probe.critical }
    // A probe that passes again carries no error: the last one is history, not its state.
    if (probe.passing) {
      this.#log.info(entry, 'readiness probe changed')
    } else {
      const last = probe.lastError
      if (last !== null) {
        // The stored error is already redacted and has no stack: log it as an Error without frames.
        const copy = Object.assign(new Error(String(last.message)), { name: String(last.name) }, last.code !== undefined ? { code: last.code } : {})
        copy.stack = ''
        entry.err = logError(copy)
      }
      // Before startup is done a failing probe is expected (the dependency is still coming up).
      const level = this.#closing || this.#closed ? 'info' : this.startupState === 'done' || previous === 'pass' ? 'warn' : 'info'
      this.#log[level](entry, 'readiness probe changed')
    }
    // State first: a listener reading isReady() sees the new verdict, and one that throws cannot skip it.
    const status = probe.status
    this.#recompute(`probe ${probe.name} ${status}`, () => this.emit('probeChanged', probe.name, status, previous))
  }

  // Probe flips are rare, so a recount beats keeping incremental counters right.
  #countProbes (): void {
    let criticalNotPassing = 0
    let nonCriticalFailing = 0
    for (const probe of this.#probes.values()) {
      if (probe.critical && !this.#holds(probe.name)) criticalNotPassing++
      // A probe that says `warn` passes but degrades the app, critical or not.
      if ((!probe.critical && probe.status === 'fail') || probe.status === 'warn') nonCriticalFailing++
    }
    this.#criticalNotPassing = criticalNotPassing
    this.#nonCriticalFailing = nonCriticalFailing
  }

  /** With no phases, startup is done once the app has started (probes polling). */
  #startupDone (): boolean {
    return this.#runner === null ? this.#phaseConfigs.size === 0 && this.#probesStarted : this.#runner.state === 'done'
  }

  /**
   * Settles the state, then tells listeners: `first` (the event of the change
   * itself), then `ready`/`notReady` if the announced verdict differs from the
   * state as it is now, then every onChange listener. No listener runs before
   * the state is settled.
   *
   * Re-entrancy: a listener may change the state again (take the app out of
   * service from `probeChanged`, remove a probe, put it back in service from
   * `notReady`). The transition events are therefore never emitted from a value
   * computed before the listeners ran: `#announce` compares the last announced
   * verdict with the current one, one drain at a time, so the last `ready` /
   * `notReady` an app sees always matches `isReady()` and `/health/ready`.
   */
  #recompute (reason: string, first?: () => void): void {
    const ready = this.#startupDone() && this.#criticalNotPassing === 0 && !this.#draining && !this.#closed && this.#outOfService === null
    const flipped = ready !== this.#ready
    this.#ready = ready
    if (flipped) {
      if (!ready) this.#notReadyReason = reason
      // Shutdown and a manual switch are intended: not worth a warning.
      const intended = this.#draining || this.#closed || this.#outOfService !== null
      if (ready) this.#log.info({}, 'ready')
      else this.#log[intended ? 'info' : 'warn']({ reason, missing: this.missing() }, 'not ready')
    }
    first?.()
    this.#announce()
    for (const listener of [...this.#changeListeners]) this.#callListener('onChange', listener, [])
  }

  /**
   * Emits `ready`/`notReady` until the announced verdict is the current one.
   * Only the outermost call drains: a change made by a transition listener is
   * picked up by the loop after that listener returns, in order. Listeners that
   * flip the state back and forth forever are cut off after a bound (logged);
   * the next change of any kind announces the state as it is then.
   */
  #announce (): void {
    if (this.#announcing) return
    this.#announcing = true
    try {
      let rounds = 0
      while (this.#announced !== this.#ready) {
        if (++rounds > MAX_ANNOUNCE_ROUNDS) {
          this.#log.error({ rounds: MAX_ANNOUNCE_ROUNDS }, 'ready/notReady listeners keep flipping readiness; transition events paused until the next change')
          // `#announced` stays what was really announced: the next recompute catches up.
          break
        }
        const ready = this.#ready
        this.#announced = ready
        if (ready) this.emit('ready')
        else this.emit('notReady', this.#notReadyReason)
      }
    } finally {
      this.#announcing = false
    }
  }

  #callListener (event: string, listener: (...values: unknown[]) => unknown, args: unknown[]): void {
    try {
      const result = Reflect.apply(listener, this, args)
      if (typeof (result as { then?: unknown } | null)?.then === 'function') {
        (result as PromiseLike<unknown>).then(undefined, (err: unknown) => this.#listenerFailed(event, err))
      }
    } catch (err) {
      this.#listenerFailed(event, err)
    }
  }

  #listenerFailed (event: string, err: unknown): void {
    try {
      this.#log.error({ event, err: logError(err) }, `a '${event}' listener of app.readiness threw; readiness is unaffected`)
    } catch {
      // A logger that throws must not undo the isolation either.
    }
  }

  /** Once startup has ended: the one summary line, and the liveness grace after a failure. */
  #afterStartupChange (): void {
    const runner = this.#runner
    if (runner === null || this.#summaryLogged || (runner.state !== 'done' && runner.state !== 'failed')) return
    this.#summaryLogged = true
    const phases: Record<string, number | string> = {}
    for (const [name, p] of Object.entries(runner.snapshot())) phases[name] = p.durationMs ?? p.state
    const summary: Record<string, unknown> = {
      state: runner.state,
      durationMs: (runner.finishedAt ?? Date.now()) - (runner.startedAt ?? Date.now()),
      budgetMs: this.#budget?.budgetMs ?? this.startupBudget().budget,
      budgetSource: this.#budget?.source ?? 'computed',
      criticalPath: runner.criticalPath(),
      phases
    }
    if (runner.state === 'done') {
      this.#log.info(summary, 'startup finished')
      return
    }
    if (this.#closing || this.#closed) {
      this.#log.info(summary, 'startup aborted: the app is closing')
      return
    }
    summary.err = logError(runner.failure)
    this.#log.error(summary, 'startup failed')
    const grace = this.#failedStartupGraceMs
    if (grace !== null) {
      this.#brokenTimer = setTimeout(() => {
        this.#brokenTimer = null
        if (!this.#closed) this.markBroken(`startup failed ${grace} ms ago: ${redactMessage(String(runner.failure?.message ?? ''))}`)
      }, grace)
      this.#brokenTimer.unref()
    }
  }

  #waitUntil (predicate: () => boolean, what: string, timeout: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    if (predicate()) return Promise.resolve()
    const controller = new AbortController()
    const onOuterAbort = (): void => controller.abort(signal?.reason)
    signal?.addEventListener('abort', onOuterAbort, { once: true })
    let timer: NodeJS.Timeout | undefined
    if (timeout !== undefined) {
      timer = setTimeout(() => controller.abort(new WaitTimeoutError(what, timeout)), timeout)
    }
    let unsubscribe = (): void => {}
    return raceAbort(() => new Promise<void>((resolve, reject) => {
      unsubscribe = this.onChange(() => {
        try {
          if (predicate()) resolve()
        } catch (err) { reject(err) }
      })
    }), controller.signal).finally(() => {
      unsubscribe()
      clearTimeout(timer)
      signal?.removeEventListener('abort', onOuterAbort)
    })
  }
}

/** Transition events one drain may emit before listeners flipping readiness back and forth are cut off. */
const MAX_ANNOUNCE_ROUNDS = 100

/** The waits' `timeout`: omitted or Infinity waits without a bound; otherwise what a Node timer can wait. */
function waitTimeout (path: string, value: unknown): number | undefined {
  if (value === undefined || value === Infinity) return undefined
  return durationOption(path, value, 0, { allowZero: true })
}

/** `addProbe`'s third argument, read once (a getter that throws is named by its path). */
function readProbeOptions (path: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {}
  if (!isPlainObject(value)) throw new ReadinessOptionError(path, `options must be a plain object, got ${describe(value)}`)
  return readOptions(path, value)
}
