import { EventEmitter } from 'node:events'
import { raceAbort } from './abort.js'
import type { Budget } from './budget.js'
import type { Platform } from './platform.js'
import { ReadinessOptionError, WaitTimeoutError, type PhaseError } from './errors.js'
import { isPlainObject, nameOption } from './options.js'
import { assertAcyclic, criticalPathBudget, validatePhaseGraph, type PhaseConfig } from './phase-options.js'
import { Probe, type ProbeCheck, type ProbeSnapshot, type ProbeStatus } from './probe.js'
import { parseProbe, type ProbeObjectDefinition } from './probe-options.js'
import type { WebSocketReadiness } from './route-gate.js'
import { StartupRunner, type PhaseSnapshot, type StartupState } from './startup.js'

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
    error: { phase: string, message: string } | null
  }
  phases: Record<string, PhaseSnapshot>
  probes: Record<string, ProbeSnapshot>
  /** Names of unmet requirements of full readiness. */
  missing: string[]
}

/**
 * The one source of truth for "can this instance take work?". Probes, startup
 * phases and the draining flag feed it; health routes and the WebSocket gate
 * read it. Everything here is O(1) on the read path: state is recomputed when
 * something changes, never per request.
 */
export class Readiness<App = unknown> extends EventEmitter<ReadinessEvents> {
  readonly #app: App
  readonly #log: ReadinessLogger
  readonly #probes = new Map<string, Probe>()
  readonly #phaseConfigs = new Map<string, PhaseConfig<App>>()
  readonly #changeListeners = new Set<() => void>()
  /** Probes every requirement check includes (event-loop pressure): no route is exempt. */
  readonly #everywhere = new Set<string>()
  /** Set by the WebSocket gate when it is registered. */
  websocket: WebSocketReadiness | null = null
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
  #criticalNotPassing = 0
  #nonCriticalFailing = 0

  constructor (app: App, log: ReadinessLogger) {
    super()
    this.#app = app
    this.#log = log
  }

  // ---------------------------------------------------------------- probes

  /**
   * Adds a named check. Before startup it simply joins the set; after startup
   * it starts polling at once and counts towards readiness from its first result.
   */
  registerReadinessCheck (name: string, check: ProbeCheck | ProbeObjectDefinition, options: Omit<ProbeObjectDefinition, 'check'> = {}): this {
    const path = `probes.${String(name)}`
    nameOption('probes', name)
    this.#assertFreeName(path, name)
    const definition = typeof check === 'function' ? { ...options, check } : isPlainObject(check) ? { ...check, ...options } : check
    const probe = new Probe(name, parseProbe(path, definition), (p, previous) => this.#onProbeChange(p, previous), (p, err) => {
      this.#log.debug({ probe: p.name, err: { message: p.lastError?.message, code: (err as { code?: unknown }).code } }, 'readiness probe check failed')
    })
    this.#probes.set(name, probe)
    this.#countProbes()
    if (this.#probesStarted) probe.start()
    this.#recompute('probe added')
    return this
  }

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
        onPhaseStarted: (name) => { this.#log.info({ phase: name }, 'startup phase started'); this.emit('phaseStarted', name) },
        onPhaseFinished: (name, durationMs) => { this.#log.info({ phase: name, durationMs }, 'startup phase finished'); this.emit('phaseFinished', name, durationMs) },
        onPhaseFailed: (name, error) => { this.#log.error({ phase: name, err: { message: error.message } }, 'startup phase failed'); this.emit('phaseFailed', name, error) },
        onStateChange: () => this.#recompute('startup')
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
    if (!this.#phaseConfigs.has(name)) {
      throw new ReadinessOptionError('waitForPhase', `names unknown phase "${name}" (known phases: ${[...this.#phaseConfigs.keys()].join(', ') || 'none'})`)
    }
    await this.#waitUntil(() => {
      const state = this.#runner?.phaseState(name)
      if (state === 'failed' || state === 'skipped') throw this.#runner?.phaseError(name) as Error
      return state === 'done'
    }, `phase "${name}"`, timeout, signal)
  }

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
    if (this.#closing || this.#closed) return false
    if (requires === undefined) return this.#startupDone() && this.#criticalNotPassing === 0
    for (const name of requires) if (!this.#holds(name)) return false
    for (const name of this.#everywhere) if (!this.#holds(name)) return false
    return true
  }

  /** The unmet ones among the named requirements (or among full readiness's). */
  missing (requires?: readonly string[]): string[] {
    const out: string[] = []
    if (this.#draining) out.push('draining')
    if (requires === undefined) {
      if (this.#phaseConfigs.size === 0 && !this.#startupDone()) out.push('startup')
      for (const name of this.#phaseConfigs.keys()) if (!this.#holds(name)) out.push(name)
      for (const [name, probe] of this.#probes) if (probe.critical && !probe.passing) out.push(name)
    } else {
      for (const name of requires) if (!this.#holds(name)) out.push(name)
      for (const name of this.#everywhere) if (!requires.includes(name) && !this.#holds(name)) out.push(name)
    }
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
    await this.#waitUntil(() => this.meets(requires), requires === undefined ? 'readiness' : requires.join(', '), timeout, signal)
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
    return Math.min(30, Math.max(1, Math.ceil(ms / 1000)))
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
        error: failure === null ? null : { phase: failure.phase, message: failure.message }
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
    this.emit('draining')
    this.#recompute('draining')
  }

  /** Shutdown's close step: gated routes stop admitting and held upgrades are answered. Idempotent. */
  startClosing (): void {
    this.startDraining()
    if (this.#closing) return
    this.#closing = true
    this.emit('closing')
    this.#recompute('closing')
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
          if (result.status === 'rejected') this.#log.error({ err: result.reason as Error }, 'a close step failed')
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
    this.#runner?.close()
    this.#recompute('closed')
    const results = await Promise.allSettled([...this.#probes.values()].map((probe) => probe.stop()))
    for (const result of results) {
      if (result.status === 'rejected') this.#log.warn({ err: { message: String((result.reason as Error)?.message ?? result.reason) } }, 'a probe failed to close')
    }
  }

  // ---------------------------------------------------------------- internals

  #holds (name: string): boolean {
    const probe = this.#probes.get(name)
    if (probe !== undefined) return probe.passing
    return this.#runner?.phaseState(name) === 'done'
  }

  #assertFreeName (path: string, name: string): void {
    if (this.#probes.has(name)) throw new ReadinessOptionError(path, `"${name}" is already a probe: probe and phase names must be unique`)
    if (this.#phaseConfigs.has(name)) throw new ReadinessOptionError(path, `"${name}" is already a phase: probe and phase names must be unique`)
  }

  #onProbeChange (probe: Probe, previous: ProbeStatus): void {
    this.#countProbes()
    const level = probe.passing ? 'info' : 'warn'
    this.#log[level]({ probe: probe.name, status: probe.status, previous, critical: probe.critical, error: probe.lastError?.message }, 'readiness probe changed')
    this.emit('probeChanged', probe.name, probe.status, previous)
    this.#recompute(`probe ${probe.name} ${probe.status}`)
  }

  // Probe flips are rare, so a recount beats keeping incremental counters right.
  #countProbes (): void {
    let criticalNotPassing = 0
    let nonCriticalFailing = 0
    for (const probe of this.#probes.values()) {
      if (probe.critical && !probe.passing) criticalNotPassing++
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

  #recompute (reason: string): void {
    const ready = this.#startupDone() && this.#criticalNotPassing === 0 && !this.#draining && !this.#closed
    if (ready !== this.#ready) {
      this.#ready = ready
      if (ready) {
        this.#log.info({}, 'ready')
        this.emit('ready')
      } else {
        this.#log.warn({ reason, missing: this.missing() }, 'not ready')
        this.emit('notReady', reason)
      }
    }
    for (const listener of this.#changeListeners) listener()
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
