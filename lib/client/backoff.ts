/**
 * The client's schedule, as pure functions so the bench can drive the very
 * code the client runs. Every delay it returns is finite and at most
 * MAX_TIMER_MS, whatever the server says: a Retry-After of 1e12 or a date
 * fifty days ahead becomes the ceiling, never a TimeoutOverflowWarning that
 * fires after 1 ms.
 */

/** The most a hint is stretched by jitter. */
export const HINT_JITTER_MAX_MS = 5000

/** setTimeout's largest delay; anything above it fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647

export interface BackoffSettings {
  /** Bound of the first delay (default 250 ms). */
  initialMs: number
  /** Cap of the bound (default 30 s). */
  maxMs: number
  /** Growth per failed attempt (default 2). */
  factor: number
  /** A server hint (Retry-After, a close reason, the health route) is raised to at least this (default 500 ms). */
  hintFloorMs: number
  /** ... and lowered to at most this (default 60 s). */
  hintCeilingMs: number
}

export const DEFAULT_BACKOFF: BackoffSettings = { initialMs: 250, maxMs: 30_000, factor: 2, hintFloorMs: 500, hintCeilingMs: 60_000 }

/**
 * The delay before attempt `attempt` (1 = the first retry after a failure).
 * Equal jitter: uniform in [bound/2, bound], so delays keep growing however
 * the server answers (full jitter can draw 0). A hint, clamped to
 * [hintFloorMs, hintCeilingMs], can only lengthen the wait: a server saying
 * "now" (Retry-After: 0, a health route answering 200) cannot shorten it
 * below the backoff, and one saying "in 3 years" waits the ceiling.
 */
export function retryDelay (attempt: number, hintMs: number | null, settings: BackoffSettings, random: () => number): { delayMs: number, source: 'hint' | 'backoff' } {
  const exponent = Math.min(Math.max(attempt - 1, 0), 60)
  const bound = Math.min(settings.maxMs, settings.initialMs * settings.factor ** exponent)
  const backoff = bound / 2 + random() * bound / 2
  if (hintMs === null || !Number.isFinite(hintMs)) return { delayMs: capTimer(backoff), source: 'backoff' }
  const hint = Math.min(settings.hintCeilingMs, Math.max(settings.hintFloorMs, hintMs))
  // Up to 50 % (at most 5 s) of jitter on a hint: a gate that tells 10,000 clients "1 s" sees them over half a
  // second, not in one instant, and none of them early.
  const hinted = hint + random() * Math.min(HINT_JITTER_MAX_MS, hint / 2)
  return hinted >= backoff ? { delayMs: capTimer(hinted), source: 'hint' } : { delayMs: capTimer(backoff), source: 'backoff' }
}

export function capTimer (ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) return 0
  return Math.min(Math.ceil(ms), MAX_TIMER_MS)
}

const DELTA_SECONDS = /^\s*(\d{1,16})\s*$/
// IMF-fixdate (and the obsolete RFC 850 / asctime forms Date.parse also reads) always carry letters.
const LOOKS_LIKE_DATE = /[A-Za-z]{3}/

/**
 * A Retry-After header in ms from now, or null when it is not one (negative
 * numbers, `1e12`, garbage). Dates in the past mean 0. Huge values stay huge
 * here: the caller clamps.
 */
export function parseRetryAfter (value: string | null | undefined, now = Date.now()): number | null {
  if (value === undefined || value === null) return null
  const seconds = DELTA_SECONDS.exec(value)
  if (seconds !== null) return Number(seconds[1]) * 1000
  if (!LOOKS_LIKE_DATE.test(value)) return null
  const date = Date.parse(value)
  return Number.isNaN(date) ? null : Math.max(0, date - now)
}
