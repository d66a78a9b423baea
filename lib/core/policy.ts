import type { StartupState } from '../startup/runner.js'
import { PROBE_DEFAULTS } from '../probes/options.js'
import { rampEndMs } from '../probes/schedule.js'

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
  /**
   * Interval and timeout (ms) of every critical probe not passing, and its startInterval (the
   * probe's config carries it; absent: the default).
   */
  failingCritical: ReadonlyArray<{ interval: number, timeout: number, startInterval?: number }>
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
  // refusal less. Except when the estimate rests on a guess already proven wrong: it then aims at a
  // moment of a fixed schedule (lib/startup/runner.ts pastGuessMs), and to the nearest second lands a
  // client that came back late within half a second of it instead of a second further on each retry.
  const seconds = s.startupState === 'running' && s.estimateIsGuess ? Math.round(ms / 1000) : Math.ceil(ms / 1000)
  return Math.min(30, Math.max(1, seconds))
}

/** The gate's default cap of a derived hold (websocket.maxHoldTimeoutMs), in ms. */
export const DEFAULT_MAX_HOLD_MS = 60_000

/**
 * How long a failing probe can still turn ready on its own schedule, in ms: the down time after which
 * its delay reaches the cap (lib/probes/schedule.ts rampEndMs; 39.1 s with defaults) plus one interval and one
 * timeout (3 s): 42.1 s with defaults. Past that the dependency is in an outage, not starting.
 */
export function probeScheduleHoldMs (probe: { interval: number, timeout: number, startInterval?: number }): number {
  const startInterval = probe.startInterval ?? PROBE_DEFAULTS.startInterval
  return rampEndMs({ startInterval, interval: probe.interval }) + probe.interval + probe.timeout
}

/**
 * How long the gate holds an upgrade when no hold timeout is configured: as long as the app can still
 * become ready. During startup, what is left of the budget, or longer where a failing critical probe's
 * schedule reaches further (phases can finish early and leave the probe to pass later); with no startup
 * running (probes only, or after a dependency loss), the failing probes' own schedule
 * (`probeScheduleHoldMs`: 42.1 s with defaults), since no budget is known. At least 0.5 s, never more
 * than `cap` (the gate's `maxHoldTimeoutMs`, 60 s by default).
 */
export function suggestedHoldMs (s: PolicySnapshot, cap = DEFAULT_MAX_HOLD_MS): number {
  if (s.draining) return 0
  let ms = s.startupState === 'running' ? s.remainingBudgetMs : 0
  // A failed startup never becomes ready: nothing to hold for.
  if (s.startupState !== 'failed') for (const probe of s.failingCritical) ms = Math.max(ms, probeScheduleHoldMs(probe))
  return Math.min(cap, Math.max(500, ms))
}
