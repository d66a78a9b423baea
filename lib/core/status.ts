import type { ProbeSnapshot } from '../probes/probe.js'
import type { ReadinessStatus } from './api.js'
import type { PolicySnapshot } from './policy.js'
import type { ServiceState } from './service.js'
import type { StartupControl } from './startup.js'
import type { Requirements } from './requirements.js'

/** What the snapshot is read from. */
export interface StatusSources<App> {
  ready: boolean
  draining: boolean
  service: ServiceState
  startup: StartupControl<App>
  requirements: Requirements<App>
  missing: string[]
}

/** The status snapshot: everything `/health/*` with details, the status page and the log show. */
export function buildStatus<App> ({ ready, draining, service, startup, requirements, missing }: StatusSources<App>): ReadinessStatus {
  const runner = startup.runner
  const probes: Record<string, ProbeSnapshot> = {}
  for (const [name, probe] of requirements.probes) probes[name] = probe.snapshot()
  const failure = runner?.failure ?? null
  return {
    ready,
    status: ready ? (requirements.degraded ? 'warn' : 'pass') : 'fail',
    draining,
    outOfService: service.outOfService,
    live: service.broken === null,
    broken: service.broken,
    startup: {
      state: startup.state,
      mode: startup.mode,
      startedAt: runner?.startedAt != null ? new Date(runner.startedAt).toISOString() : null,
      finishedAt: runner?.finishedAt != null ? new Date(runner.finishedAt).toISOString() : null,
      durationMs: runner?.startedAt != null && runner.finishedAt != null ? runner.finishedAt - runner.startedAt : null,
      budgetMs: startup.budgetMs(),
      budgetSource: startup.budget?.source ?? 'computed',
      estimatedRemainingMs: startup.estimateRemainingMs(),
      platform: startup.platform?.name ?? 'local',
      environment: startup.platform?.environment ?? 'development',
      criticalPath: runner?.criticalPath() ?? [],
      // Redacted once, when the runner stored it: not on every request.
      error: failure === null ? null : { phase: failure.phase, message: runner?.failureShown?.message ?? '' }
    },
    phases: runner?.snapshot() ?? {},
    probes,
    missing
  }
}

/** What the retry and hold policy reads; startup's estimates only in the states where they mean something. */
export function policySnapshot<App> ({ draining, outOfService, startup, requirements }: { draining: boolean, outOfService: boolean, startup: StartupControl<App>, requirements: Requirements<App> }): PolicySnapshot {
  const state = startup.state
  return {
    draining,
    outOfService,
    startupState: state,
    estimateRemainingMs: state === 'running' || state === 'pending' ? startup.estimateRemainingMs() : 0,
    estimateIsGuess: state === 'running' && startup.estimateIsGuess(),
    remainingBudgetMs: state === 'running' ? startup.remainingBudgetMs() : 0,
    failingCritical: requirements.failingCritical()
  }
}
