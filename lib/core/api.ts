/**
 * The public face of the readiness state: what `app.readiness` is typed as, its events and its
 * status snapshot. Types only, so every other file of the core (and the plugins) can import them
 * without importing the state itself.
 */
import type { EventEmitter } from 'node:events'
import type { PhaseError } from '../common/errors.js'
import type { ProbeCheck, ProbeSnapshot, ProbeStatus } from '../probes/probe.js'
import type { ProbeObjectDefinition } from '../probes/options.js'
import type { PhaseSnapshot, StartupState } from '../startup/runner.js'
import type { WebSocketReadiness } from './websocket-view.js'

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
  /** Resolves once the requirements hold; rejects after `timeoutMs` (a WaitTimeoutError) or on the signal. */
  waitFor: (requires?: readonly string[], options?: { timeoutMs?: number, signal?: AbortSignal }) => Promise<void>
  /** Resolves when the phase is done; rejects when it fails or is skipped, after `timeoutMs`, or when it is unknown. */
  waitForPhase: (name: string, options?: { timeoutMs?: number, signal?: AbortSignal }) => Promise<void>
  onChange: (listener: () => void) => () => void
  retryAfterSeconds: () => number
  estimateRemainingMs: () => number
  /** Adds a probe (also at runtime: it counts from its first verdict). */
  addProbe: (name: string, check: ProbeCheck | ProbeObjectDefinition, options?: Omit<ProbeObjectDefinition, 'check'>) => ReadinessApi
  removeProbe: (name: string) => Promise<boolean>
  checkProbe: (name: string) => Promise<ProbeStatus>
  probeNames: () => string[]
  setOutOfService: (reason?: string) => void
  setInService: () => void
  markBroken: (reason?: string) => void
  /** Graceful shutdown: readiness 503, the shutdown delay, the drain, then close. */
  shutdown: () => Promise<void>
  /** Shutdown's first step alone: readiness reports 503 while the app keeps serving. */
  startDraining: () => void
  /** Shutdown's close step alone: gated routes admit nothing, held upgrades get 503, sockets are drained. */
  closeConnections: () => Promise<void>
}
