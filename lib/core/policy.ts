import type { StartupState } from '../startup/runner.js'

/**
 * What the retry and hold policy looks at, taken from the state when asked. Fields that only
 * matter in some startup states are 0 / false in the others (they are not computed there).
 */
export interface PolicySnapshot {
  draining: boolean
  outOfService: boolean
  startupState: StartupState
  /** The running estimate of the time startup still needs (running or pending startup only). */
  estimateRemainingMs: number
  /** Whether that estimate rests on a guess already proven wrong (running startup only). */
  estimateIsGuess: boolean
  /** What is left of the startup budget (running startup only). */
  remainingBudgetMs: number
  /** Interval and timeout (ms) of every critical probe not passing. */
  failingCritical: ReadonlyArray<{ interval: number, timeout: number }>
}

/**
 * Seconds a refused client should wait before retrying. During startup a short wait (readiness
 * can come any moment); after a dependency loss, about one probe cycle; while draining, at once
 * elsewhere.
 */
export function retryAfterSeconds (s: PolicySnapshot): number {
  if (s.draining) return 1
  if (s.outOfService) return 30 // by hand: nothing says when it ends
  let ms = 1000
  if (s.startupState === 'running' || s.startupState === 'pending') {
    ms = s.estimateRemainingMs
  } else if (s.startupState === 'failed') {
    ms = 30_000 // this instance will not become ready: look elsewhere for a while
  } else {
    // After a loss, readiness can come back at the failing probe's next run.
    for (const probe of s.failingCritical) ms = Math.max(ms, probe.interval)
  }
  // Rounded up: a client told to come back just before readiness is refused once more and then
  // waits at least another second, so coming back a little after it costs no more delay and one
  // refusal less. Except when the estimate rests on a guess already proven wrong (it errs high):
  // then to the nearest second.
  const seconds = s.startupState === 'running' && s.estimateIsGuess ? Math.round(ms / 1000) : Math.ceil(ms / 1000)
  return Math.min(30, Math.max(1, seconds))
}

/**
 * How long the gate holds an upgrade when no hold timeout is configured: during startup, what is
 * left of the budget (holding past it is pointless: startup has failed by then), after a
 * dependency loss about one probe cycle; never more than `cap` (the gate's maximum, 5 s by
 * default: browsers' and most clients' handshake timeouts are not much longer).
 */
export function suggestedHoldMs (s: PolicySnapshot, cap = 5000): number {
  if (s.draining) return 0
  let ms = 0
  if (s.startupState === 'running') {
    ms = s.remainingBudgetMs
  } else {
    for (const probe of s.failingCritical) ms = Math.max(ms, probe.interval + probe.timeout)
  }
  return Math.min(cap, Math.max(500, ms))
}
