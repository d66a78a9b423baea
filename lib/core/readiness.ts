import { ReadinessOptionError } from '../common/errors.js'
import { logError } from '../common/log-error.js'
import { nameOption } from '../common/options.js'
import type { Probe, ProbeCheck, ProbeStatus } from '../probes/probe.js'
import type { ProbeObjectDefinition } from '../probes/options.js'
import type { PhaseConfig } from '../startup/phase-options.js'
import type { StartupState } from '../startup/runner.js'
import type { Budget } from '../startup/budget.js'
import type { Platform } from '../startup/platform.js'
import type { ReadinessApi, ReadinessLogger, ReadinessStatus, StartupMode } from './api.js'
import { Announcer, SafeEmitter } from './events.js'
import { Lifecycle, type Closer, type ShutdownSequenceRun } from './lifecycle.js'
import { DEFAULT_MAX_HOLD_MS, retryAfterSeconds, suggestedHoldMs, type PolicySnapshot } from './policy.js'
import { buildProbe, logProbeChange } from './probes.js'
import { Requirements } from './requirements.js'
import { ServiceState } from './service.js'
import { StartupControl, type StartupConfig } from './startup.js'
import { buildStatus, policySnapshot } from './status.js'
import { readWaitOptions, waitUntil, type WaitOptions } from './wait.js'
import type { ConnectionReadiness, WebSocketReadiness } from './websocket-view.js'

export type { GateRefusal, ReadinessApi, ReadinessEvents, ReadinessLogger, ReadinessStatus, StartupMode } from './api.js'
export type { StartupConfig } from './startup.js'
export type { Closer, ShutdownSequenceRun } from './lifecycle.js'

/** What other parts of the suite plug into the state (`use`): the state calls them, never the reverse. */
export interface ReadinessComponents {
  /** The WebSocket layer's view (`app.readiness.websocket`): registered by the gate. */
  websocket?: WebSocketReadiness
  /** Work of the close step (the gate's drain): every closer runs once, together, on `closeConnections()`. */
  closer?: Closer
  /** The sequence `shutdown()` runs (the shutdown plugin's); without one, the close step alone. */
  shutdown?: ShutdownSequenceRun
}

/**
 * The one source of truth for "can this instance take work?". Probes, startup phases and the
 * shutdown flags feed it; health routes and the WebSocket gate read it. It composes small parts
 * (requirements, startup, lifecycle, service switches, events, policy) and knows nothing of its
 * consumers: they register with it (`use`, `configureStartup`). Reads are O(1): the verdict is
 * recomputed when something changes, never per request.
 */
export class Readiness<App = unknown> extends SafeEmitter implements ReadinessApi {
  readonly #log: ReadinessLogger
  readonly #requirements: Requirements<App>
  readonly #startup: StartupControl<App>
  readonly #lifecycle: Lifecycle
  readonly #service: ServiceState
  readonly #announcer: Announcer
  readonly #noGate: WebSocketReadiness
  #websocket: WebSocketReadiness | null = null
  #ready = false
  #notReadyReason = ''

  constructor (app: App, log: ReadinessLogger) {
    super(log)
    this.#log = log
    // Both read each other lazily: the requirements ask startup for phase states, startup runs the phases registered there.
    this.#requirements = new Requirements<App>({ phaseState: (name) => this.#startup.phaseState(name), done: () => this.#startup.done() })
    this.#startup = new StartupControl<App>({
      app,
      log,
      emitter: this,
      phases: () => this.#requirements.phases,
      probeNames: () => new Set(this.#requirements.probes.keys()),
      waitForProbes: (names, signal) => this.waitFor(names, { signal }),
      notPassing: (names) => names.filter((n) => this.#requirements.probes.get(n)?.passing !== true),
      stopping: () => this.#lifecycle.stopping,
      markBroken: (reason) => { if (!this.#lifecycle.closed) this.markBroken(reason) },
      changed: () => this.#recompute('startup')
    })
    this.#lifecycle = new Lifecycle(log, (step) => this.#recompute(step, () => this.emit(step)))
    this.#service = new ServiceState(log)
    this.#announcer = new Announcer(this, log, () => ({ ready: this.#ready, reason: this.#notReadyReason }))
    // Without the gate there are no gated routes: "ready for connections" is plain readiness.
    this.#noGate = Object.freeze({
      isReadyForConnections: () => this.isReady(),
      getConnectionReadiness: (): ConnectionReadiness => ({ ready: this.isReady(), draining: this.draining, held: 0, open: 0, routes: {} }),
      drainBudgetMs: 0
    })
  }

  // ---------------------------------------------------------------- registration

  /** Registers parts of other plugins: the gate's view and drain, the shutdown sequence. */
  use (components: ReadinessComponents): this {
    const { websocket, closer, shutdown } = components
    if (websocket !== undefined) {
      if (typeof websocket?.isReadyForConnections !== 'function' || typeof websocket.getConnectionReadiness !== 'function') {
        throw new TypeError('app.readiness.websocket is set by the WebSocket gate plugin only')
      }
      this.#websocket = websocket
    }
    if (closer !== undefined) this.#lifecycle.addCloser(closer)
    if (shutdown !== undefined) this.#lifecycle.setSequence(shutdown)
    return this
  }

  /** Registers the startup plugin's settings: mode, budget and platform, the liveness grace after a failure. */
  configureStartup (config: StartupConfig): this {
    this.#startup.configure(config)
    return this
  }

  /** The WebSocket layer's view; without the gate plugin, plain readiness and no routes, never null. */
  get websocket (): WebSocketReadiness { return this.#websocket ?? this.#noGate }
  /** Whether the WebSocket gate is registered. */
  get gated (): boolean { return this.#websocket !== null }
  get startupMode (): StartupMode { return this.#startup.mode }

  // ---------------------------------------------------------------- probes and phases

  /**
   * Adds a named probe. Before startup it joins the set; after, it polls at once. Added to a
   * ready app, it does not un-ready it before it has actually failed: it counts from its first verdict.
   */
  addProbe (name: string, check: ProbeCheck | ProbeObjectDefinition, options: Omit<ProbeObjectDefinition, 'check'> = {}): this {
    nameOption('probes', name)
    this.#requirements.assertFreeName(`probes.${name}`, name)
    const probe = buildProbe(name, check, options, this.#log, (p, previous) => this.#onProbeChange(p, previous))
    this.#requirements.addProbe(probe, this.#ready)
    if (this.#startup.probesStarted) probe.start()
    this.#recompute('probe added')
    return this
  }

  /** Removes a probe at runtime: it stops polling and no longer counts anywhere. False when unknown. */
  async removeProbe (name: string): Promise<boolean> {
    const probe = this.#requirements.removeProbe(name)
    if (probe === undefined) return false
    this.#log.info({ probe: name }, 'readiness probe removed')
    this.#recompute(`probe ${name} removed`)
    await probe.stop()
    return true
  }

  probeNames (): string[] { return [...this.#requirements.probes.keys()] }

  /** Makes a registered probe part of every route's requirements, not only of full readiness. */
  requireEverywhere (name: string): void {
    this.#requirements.requireEverywhere(name)
    this.#recompute(`${name} required everywhere`)
  }

  /** The IETF health format's componentType of a probe, when its check declares one. */
  componentType (name: string): string | undefined {
    return (this.#requirements.probes.get(name)?.config.check as { componentType?: string } | undefined)?.componentType
  }

  /** Runs a probe now (joining a run under way) and resolves with its status. */
  async checkProbe (name: string): Promise<ProbeStatus> {
    const probe = this.#requirements.probes.get(name)
    if (probe === undefined) throw new ReadinessOptionError('probe', `"${name}" is not registered`)
    return await probe.run()
  }

  addPhases (phases: Iterable<PhaseConfig<App>>): void {
    if (this.#startup.runner !== null) throw new ReadinessOptionError('phases', 'cannot change after startup has begun')
    for (const phase of phases) this.#requirements.addPhase(phase)
  }

  // ---------------------------------------------------------------- startup

  get budget (): Budget | null { return this.#startup.budget }
  get platform (): Platform | null { return this.#startup.platform }
  get startupState (): StartupState { return this.#startup.state }
  remainingBudgetMs (now = Date.now()): number { return this.#startup.remainingBudgetMs(now) }
  estimateRemainingMs (): number { return this.#startup.estimateRemainingMs() }
  /** The critical path of phase timeouts. */
  startupBudget (): { budget: number, path: string[] } { return this.#startup.criticalPath() }
  validate (): void { this.#startup.validate() }

  /** Starts background polling of every probe (idempotent). */
  startProbes (): void {
    if (this.#lifecycle.closed || !this.#startup.markProbesStarted()) return
    for (const probe of this.#requirements.probes.values()) probe.start()
    this.#recompute('started')
  }

  /** Validates the graph and runs it; rejects on the first failure. `timeout` bounds the whole startup. */
  startup (timeout?: number, label?: string): Promise<void> { return this.#startup.start(timeout, label) }

  // ---------------------------------------------------------------- manual control

  /**
   * Takes the instance out of service by hand: readiness and every health group answer 503,
   * gated routes admit nothing new; liveness is unaffected (Spring's `REFUSING_TRAFFIC`).
   */
  setOutOfService (reason = 'out of service'): void {
    if (!this.#service.setOutOfService(reason)) return
    const text = this.#service.outOfService
    this.#recompute('out of service', () => this.emit('outOfService', text))
  }

  /** Puts the instance back in service; readiness follows phases and probes again. */
  setInService (): void {
    if (this.#service.setInService()) this.#recompute('in service', () => this.emit('outOfService', null))
  }

  get outOfService (): string | null { return this.#service.outOfService }

  /** Declares the process broken for good: `/health/live` answers 503 from now on (Spring's `BROKEN`). */
  markBroken (reason = 'marked broken'): void {
    if (!this.#service.markBroken(reason)) return
    this.#startup.cancelBrokenTimer()
    const text = this.#service.broken as string
    this.#recompute('broken', () => this.emit('broken', text))
  }

  isLive (): boolean { return this.#service.broken === null }
  get broken (): string | null { return this.#service.broken }

  // ---------------------------------------------------------------- reading

  /** Full readiness: every phase done, every critical probe passing, in service, not draining. O(1). */
  isReady (): boolean { return this.#ready }
  get draining (): boolean { return this.#lifecycle.draining }
  get closing (): boolean { return this.#lifecycle.closing }
  get degraded (): boolean { return this.#requirements.degraded }

  /** Whether the named requirements hold; draining does not count (the app still serves), closing does. */
  meets (requires: readonly string[] | undefined): boolean {
    if (this.#lifecycle.stopping || this.#service.outOfService !== null) return false
    return this.#requirements.meets(requires)
  }

  /** The unmet ones among the named requirements (or among full readiness's). */
  missing (requires?: readonly string[]): string[] {
    return [...this.#switches(), ...this.#requirements.missing(requires)]
  }

  /** A health group's unmet names; `draining` and `out-of-service` count in every group. */
  groupMissing (include: readonly string[] | undefined, exclude: readonly string[]): string[] {
    return [...this.#switches(), ...this.#requirements.groupMissing(include, exclude)]
  }

  assertKnown (path: string, names: readonly string[]): void { this.#requirements.assertKnown(path, names) }

  /** Resolves once the requirements hold (event-driven). Rejects after `timeoutMs` or on the signal. */
  async waitFor (requires: readonly string[] | undefined, options: WaitOptions = {}): Promise<void> {
    const { timeoutMs: ms, signal } = readWaitOptions('waitFor', options)
    await waitUntil((l) => this.onChange(l), () => this.meets(requires), requires === undefined ? 'readiness' : requires.join(', '), ms, signal)
  }

  /** Resolves when the phase is done; rejects when it fails or is skipped, after `timeoutMs`, or when it does not exist. */
  async waitForPhase (name: string, options: WaitOptions = {}): Promise<void> {
    const { timeoutMs: ms, signal } = readWaitOptions('waitForPhase', options)
    const phases = this.#requirements.phases
    if (!phases.has(name)) throw new ReadinessOptionError('waitForPhase', `names unknown phase "${name}" (known phases: ${[...phases.keys()].join(', ') || 'none'})`)
    await waitUntil((l) => this.onChange(l), () => {
      const state = this.#startup.phaseState(name)
      // The runner stores an Error for every failed or skipped phase.
      if (state === 'failed' || state === 'skipped') throw this.#startup.phaseError(name) ?? new Error(`phase "${name}" ${state}`)
      return state === 'done'
    }, `phase "${name}"`, ms, signal)
  }

  retryAfterSeconds (): number { return retryAfterSeconds(this.#policy()) }
  suggestedHoldMs (cap = DEFAULT_MAX_HOLD_MS): number { return suggestedHoldMs(this.#policy(), cap) }

  status (): ReadinessStatus {
    return buildStatus({ ready: this.#ready, draining: this.draining, service: this.#service, startup: this.#startup, requirements: this.#requirements, missing: this.missing() })
  }

  // ---------------------------------------------------------------- shutdown

  startDraining (): void { this.#lifecycle.startDraining() }
  startClosing (): void { this.#lifecycle.startClosing() }
  closeConnections (): Promise<void> { return this.#lifecycle.closeConnections() }
  /** The registered shutdown sequence; without the shutdown plugin, the close step alone. */
  async shutdown (): Promise<void> { await this.#lifecycle.shutdown() }

  /** Stops every timer, aborts every run under way and closes the probes' own connections. */
  async close (): Promise<void> {
    if (!this.#lifecycle.markClosed()) return
    this.#startup.close()
    this.#recompute('closed')
    const results = await Promise.allSettled([...this.#requirements.probes.values()].map((probe) => probe.stop()))
    for (const result of results) {
      // Closing a probe's own connection is best effort: the app is going away anyway.
      if (result.status === 'rejected') this.#log.info({ err: logError(result.reason) }, 'a probe failed to close')
    }
  }

  // ---------------------------------------------------------------- internals

  /** The shutdown and manual switches, as `missing` names them. */
  #switches (): string[] {
    const out: string[] = []
    if (this.draining) out.push('draining')
    if (this.#service.outOfService !== null) out.push('out-of-service')
    return out
  }

  #policy (): PolicySnapshot {
    return policySnapshot({ draining: this.draining, outOfService: this.#service.outOfService !== null, startup: this.#startup, requirements: this.#requirements })
  }

  #onProbeChange (probe: Probe, previous: ProbeStatus): void {
    const name = probe.name
    // Its first verdict is in: from now on it counts like any other probe.
    this.#requirements.settled(name)
    logProbeChange(this.#log, probe, previous, { stopping: this.#lifecycle.stopping, started: this.startupState === 'done' })
    // State first: a listener reading isReady() sees the new verdict, and one that throws cannot skip it.
    const status = probe.status
    this.#recompute(`probe ${name} ${status}`, () => this.emit('probeChanged', name, status, previous))
  }

  /**
   * Settles the verdict, then tells listeners: `first` (the event of the change itself), then
   * `ready`/`notReady` when the announced verdict differs from the state now, then every onChange
   * listener. No listener runs before the state is settled.
   */
  #recompute (reason: string, first?: () => void): void {
    const ready = this.#startup.done() && this.#requirements.allCriticalHold && !this.draining && !this.#lifecycle.closed && this.#service.outOfService === null
    if (ready !== this.#ready) {
      this.#ready = ready
      if (!ready) this.#notReadyReason = reason
      // Shutdown and a manual switch are intended: not worth a warning.
      const intended = this.draining || this.#lifecycle.closed || this.#service.outOfService !== null
      if (ready) this.#log.info({}, 'ready')
      else this.#log[intended ? 'info' : 'warn']({ reason, missing: this.missing() }, 'not ready')
    }
    first?.()
    this.#announcer.announce()
    this.notifyChange()
  }
}
