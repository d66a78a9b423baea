import { ReadinessOptionError } from '../common/errors.js'
import { MAX_TIMER_MS } from '../common/options.js'
import type { Platform, PlatformName } from './platform.js'

/** The operator's override of the startup budget, in ms. */
export const BUDGET_ENV = 'READINESS_STARTUP_BUDGET_MS'

/**
 * Margin added to the critical path of phase timeouts, by platform. Cold
 * starts on Cloud Run run on throttled CPU until the instance serves, and
 * Kubernetes nodes pull and schedule under load: both vary more than a laptop.
 */
export const DEFAULT_MARGINS: Record<PlatformName, number> = { 'cloud-run': 0.5, kubernetes: 0.25, local: 0.1 }
/** Production cold starts were the slowest in the incident (14.3 s vs 10.5 s in staging). */
export const PRODUCTION_EXTRA_MARGIN = 0.25

export interface BudgetInput {
  criticalPathMs: number
  criticalPath: string[]
  platform: Platform
  /** `startup.timeout`: an explicit budget always wins. */
  explicitMs?: number
  /** `startup.margin`: overrides the platform/environment default. */
  margin?: number
  env: NodeJS.ProcessEnv
  /** Kubernetes startup probe, when the operator supplies it. */
  probe?: { periodSeconds: number, failureThreshold: number }
}

export interface Budget {
  budgetMs: number
  source: 'option' | 'env' | 'computed'
  criticalPathMs: number
  criticalPath: string[]
  margin: number
  /** Things an operator should know at startup (logged as warnings). */
  warnings: string[]
}

export function computeBudget (input: BudgetInput): Budget {
  const { platform } = input
  const margin = input.margin ?? DEFAULT_MARGINS[platform.name] + (platform.environment === 'production' ? PRODUCTION_EXTRA_MARGIN : 0)
  // toFixed: 14300 * 1.1 is 15730.000000000002 in floating point, not 15731 ms.
  const raw = Math.ceil(Number((input.criticalPathMs * (1 + margin)).toFixed(3)))
  // Each phase timeout fits a timer, but their sum plus a margin may not: a
  // budget above 2^31-1 ms would make setTimeout fire after 1 ms and fail
  // startup at once. Nobody waits 24.8 days for a start, so clamp and say so.
  const computed = Math.min(raw, MAX_TIMER_MS)
  const fromEnv = parseEnvBudget(input.env[BUDGET_ENV])
  let budgetMs = computed
  let source: Budget['source'] = 'computed'
  if (input.explicitMs !== undefined) {
    budgetMs = input.explicitMs
    source = 'option'
  } else if (fromEnv !== undefined) {
    budgetMs = fromEnv
    source = 'env'
  }
  const warnings: string[] = []
  if (raw > MAX_TIMER_MS && source === 'computed') warnings.push(`startup budget ${raw} ms (critical path ${input.criticalPathMs} ms + margin) is above what a Node timer can wait; clamped to ${MAX_TIMER_MS} ms`)
  const limit = input.probe !== undefined ? input.probe.periodSeconds * input.probe.failureThreshold * 1000 : platform.startupProbeLimitMs
  if (limit !== undefined && budgetMs > limit) {
    const what = input.probe !== undefined
      ? `the startup probe's periodSeconds x failureThreshold (${input.probe.periodSeconds} x ${input.probe.failureThreshold} = ${limit} ms)`
      : `Cloud Run's startup probe cap (${limit} ms)`
    warnings.push(`startup budget ${budgetMs} ms exceeds ${what}: the platform will restart the instance before startup can finish`)
  }
  if (source !== 'computed' && budgetMs < input.criticalPathMs) {
    warnings.push(`startup budget ${budgetMs} ms (${source === 'env' ? BUDGET_ENV : 'startup.timeout'}) is below the critical path of phase timeouts (${input.criticalPathMs} ms: ${input.criticalPath.join(' -> ')})`)
  }
  return { budgetMs, source, criticalPathMs: input.criticalPathMs, criticalPath: input.criticalPath, margin, warnings }
}

function parseEnvBudget (raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new ReadinessOptionError(BUDGET_ENV, `must be a positive number of milliseconds, got ${JSON.stringify(raw.slice(0, 40))} (at most ${MAX_TIMER_MS})`)
  }
  return value
}
