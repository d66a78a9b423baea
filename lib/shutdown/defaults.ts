import { ReadinessOptionError } from '../common/errors.js'
import type { PlatformName } from '../startup/platform.js'

/** Operators' overrides (an explicit option still wins). */
export const SHUTDOWN_DELAY_ENV = 'READINESS_SHUTDOWN_DELAY_MS'
export const SHUTDOWN_TIMEOUT_ENV = 'READINESS_SHUTDOWN_TIMEOUT_MS'
export const GRACE_PERIOD_ENV = 'READINESS_GRACE_PERIOD_SECONDS'

/**
 * Serving delay by platform. Kubernetes removes a terminating pod from the
 * Service's endpoints at the same moment it sends SIGTERM, and kube-proxy,
 * ingress controllers and cloud load balancers learn of it one to a few
 * seconds later: requests keep arriving meanwhile and must be served. Cloud
 * Run stops routing to an instance before it sends SIGTERM, so waiting there
 * only eats into its 10 s. Locally nobody routes.
 */
export const DEFAULT_DELAYS: Record<PlatformName, number> = { kubernetes: 5000, 'cloud-run': 0, local: 0 }
/** SIGTERM to SIGKILL: Kubernetes' default terminationGracePeriodSeconds, Cloud Run's fixed 10 s. */
export const DEFAULT_GRACE_SECONDS: Record<PlatformName, number | undefined> = { kubernetes: 30, 'cloud-run': 10, local: undefined }
/** Without a platform deadline, a short bound: a developer's Ctrl-C should not hang. */
export const LOCAL_TIMEOUT_MS = 10_000

export interface ShutdownSettingsInput {
  platform: PlatformName
  env: NodeJS.ProcessEnv
  /** `shutdown.delayMs`, `shutdown.timeoutMs`, `shutdown.gracePeriodSeconds`, already validated. */
  delay?: number
  timeout?: number
  gracePeriodSeconds?: number
}

export interface ShutdownSettings {
  delay: number
  timeout: number
  /** SIGTERM to SIGKILL in ms, when known. */
  graceMs: number | undefined
  sources: { delay: Source, timeout: Source, grace: Source }
}

type Source = 'option' | 'env' | 'platform'

/**
 * The margin kept between the end of `timeout` and the platform's SIGKILL, so
 * the log line naming what was still open gets out: 10% of the grace period,
 * at least 1 s, at most 5 s.
 */
export function graceMargin (graceMs: number): number {
  return Math.min(5000, Math.max(1000, Math.round(graceMs * 0.1)))
}

export function shutdownSettings (input: ShutdownSettingsInput): ShutdownSettings {
  const { env, platform } = input
  const envDelay = parseEnvNumber(SHUTDOWN_DELAY_ENV, env[SHUTDOWN_DELAY_ENV], true)
  const envTimeout = parseEnvNumber(SHUTDOWN_TIMEOUT_ENV, env[SHUTDOWN_TIMEOUT_ENV], false)
  const envGrace = parseEnvNumber(GRACE_PERIOD_ENV, env[GRACE_PERIOD_ENV], false)

  const [graceSeconds, graceSource] = pick(input.gracePeriodSeconds, envGrace, DEFAULT_GRACE_SECONDS[platform])
  const graceMs = graceSeconds === undefined ? undefined : graceSeconds * 1000
  const [delay, delaySource] = pick(input.delay, envDelay, DEFAULT_DELAYS[platform])
  const [timeout, timeoutSource] = pick(input.timeout, envTimeout, graceMs === undefined ? LOCAL_TIMEOUT_MS : graceMs - graceMargin(graceMs))

  const delayName = delaySource === 'env' ? SHUTDOWN_DELAY_ENV : 'shutdown.delayMs'
  const timeoutName = timeoutSource === 'env' ? SHUTDOWN_TIMEOUT_ENV : timeoutSource === 'option' ? 'shutdown.timeoutMs' : 'the shutdown timeout'
  if (timeout! <= delay!) {
    throw new ReadinessOptionError(timeoutSource === 'platform' ? delayName : timeoutName,
      `leaves no time to close: ${timeoutName} is ${timeout!} ms and ${delayName} is ${delay!} ms; the timeout bounds the whole sequence (delay, drain and close), so it must be longer than the delay`)
  }
  return { delay: delay!, timeout: timeout!, graceMs, sources: { delay: delaySource, timeout: timeoutSource, grace: graceSource } }
}

export interface BudgetCheckInput {
  settings: ShutdownSettings
  /** What the WebSocket drain may take (spread + per-socket close timeout), in ms; 0 without the gate. */
  drainBudgetMs: number
}

/**
 * Things an operator should know at start: a sequence that cannot finish
 * inside the platform's grace period ends in SIGKILL, i.e. 1006 for every
 * client still connected; one that cannot finish inside its own timeout exits 1.
 */
export function shutdownWarnings ({ settings, drainBudgetMs }: BudgetCheckInput): string[] {
  const warnings: string[] = []
  const { delay, timeout, graceMs } = settings
  const needed = delay + drainBudgetMs
  if (graceMs !== undefined && needed > graceMs) {
    warnings.push(`shutdown delay ${delay} ms + WebSocket drain ${drainBudgetMs} ms = ${needed} ms exceeds the grace period of ${graceMs / 1000} s ` +
      `(${settings.sources.grace === 'platform' ? 'the platform default' : 'shutdown.gracePeriodSeconds'}): the platform will SIGKILL the process mid-drain ` +
      '(raise terminationGracePeriodSeconds, or lower shutdown.delayMs / websocket.drainSpread / websocket.drainTimeout)')
  } else if (needed > timeout) {
    warnings.push(`shutdown delay ${delay} ms + WebSocket drain ${drainBudgetMs} ms = ${needed} ms exceeds shutdown.timeoutMs ${timeout} ms: the sequence will be cut and exit 1`)
  }
  if (graceMs !== undefined && timeout > graceMs) {
    warnings.push(`shutdown.timeoutMs ${timeout} ms exceeds the grace period of ${graceMs / 1000} s: SIGKILL comes first, and what was still open is never logged`)
  }
  return warnings
}

function pick<T> (option: T | undefined, env: T | undefined, fallback: T): [T, Source] {
  if (option !== undefined) return [option, 'option']
  if (env !== undefined) return [env, 'env']
  return [fallback, 'platform']
}

function parseEnvNumber (name: string, raw: string | undefined, allowZero: boolean): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0) || value > 2_147_483_647) {
    throw new ReadinessOptionError(name, `must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(raw)}`)
  }
  return value
}
