/**
 * The client's schedule, as pure functions so the bench can drive the very
 * code the client runs. Every delay it returns is finite and at most
 * MAX_TIMER_MS, whatever the server says: a Retry-After of 1e12 or a date
 * fifty days ahead becomes the ceiling, never a TimeoutOverflowWarning that
 * fires after 1 ms.
 */

/**
 * The most jitter added to a hint. A hint says when the server expects to be ready (the gate rounds it up
 * to whole seconds): clients told the same thing spread over up to a quarter of a second, none early and
 * none a second late.
 */
export const HINT_JITTER_MAX_MS = 250

/**
 * A refusal that took at least this long came after the server held the upgrade (the gate holds for at
 * least 500 ms; a plain 503 takes a round trip).
 */
export const HELD_AT_LEAST_MS = 500

/**
 * The least a hint is cut to: the gate's resolution (whole seconds). Cut hints are jittered down by up to
 * HINT_JITTER_MAX_MS, so a client in a short stretch comes back every 0.75-1 s and is in within 1 s of ready.
 */
const CUT_FLOOR_MS = 1000

/** The share of the stretch so far, less CUT_LEAD_MS, that bounds how long a hinted retry waits (see retryDelay). */
const STRETCH_SHARE = 0.25
const CUT_LEAD_MS = 500

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
 * The delay before attempt `attempt` (1 = the first retry after a failure). `elapsedMs`: how long the
 * stretch without a healthy connection has lasted (default: unknown, so a hint only lengthens the backoff).
 *
 * Without a hint: equal jitter, uniform in [bound/2, bound], so delays keep growing however the server
 * answers (full jitter can draw 0). A hint is clamped to [hintFloorMs, hintCeilingMs] and gets up to
 * min(250 ms, hint/4) of jitter. A hint below the floor (Retry-After: 0, a health route saying 200 "come
 * now") is no pace, and one at the ceiling ("in 3 years") is waited out: either way the longer of the hint
 * and the backoff. A hint in between is the server's estimate, rounded up to whole seconds, and estimates
 * err (the gate's guess for a phase without expectedMs said 7 s 0.2 s before ready): the longer of it and
 * the backoff is cut to `cutMs(elapsedMs)` = max(1 s, elapsedMs / 4 - 500 ms), less up to a quarter of
 * that (at most 250 ms) of jitter. So in a short stretch (a restart, a cold start: under 6 s) the client
 * comes back every 0.75-1 s whatever the hint and is in within 1 s of ready, however the gate rounds or
 * guesses; in a long one it comes within a quarter of the stretch; a long outage (a probe saying "2 s" for
 * ten minutes) still backs off to `maxMs`.
 */
export function retryDelay (attempt: number, hintMs: number | null, settings: BackoffSettings, random: () => number, elapsedMs = Infinity): { delayMs: number, source: 'hint' | 'backoff' } {
  const exponent = Math.min(Math.max(attempt - 1, 0), 60)
  const bound = Math.min(settings.maxMs, settings.initialMs * settings.factor ** exponent)
  const backoff = bound / 2 + random() * bound / 2
  if (hintMs === null || !Number.isFinite(hintMs)) return { delayMs: capTimer(backoff), source: 'backoff' }
  const hint = Math.min(settings.hintCeilingMs, Math.max(settings.hintFloorMs, hintMs))
  const hinted = hint + random() * Math.min(HINT_JITTER_MAX_MS, hint / 4)
  const paced = hintMs > 0 && hintMs >= settings.hintFloorMs && hint < settings.hintCeilingMs
  const longer = Math.max(hinted, backoff)
  const delay = paced ? Math.min(longer, jitteredCut(elapsedMs, random)) : longer
  // The source is what set the wait, cut or not: the hint, or a backoff grown past it.
  return { delayMs: capTimer(delay), source: longer === hinted ? 'hint' : 'backoff' }
}

/** The longest a paced hint is waited `elapsedMs` into a stretch (unknown: no cut). */
export function cutMs (elapsedMs: number): number {
  if (Number.isNaN(elapsedMs) || elapsedMs === Infinity) return Infinity
  return Math.max(CUT_FLOOR_MS, elapsedMs * STRETCH_SHARE - CUT_LEAD_MS)
}

/** The cut, jittered down so clients cut at the same moment do not come back in step. */
function jitteredCut (elapsedMs: number, random: () => number): number {
  const cut = cutMs(elapsedMs)
  return cut === Infinity ? Infinity : cut - random() * Math.min(HINT_JITTER_MAX_MS, cut / 4)
}

/**
 * The client's whole choice of the next wait, with the arguments it has: the attempt about to be scheduled,
 * the hint (or null), how long the refused attempt was held by the server (it counts as waited, so attempts
 * still begin a backoff apart) and how long the stretch without a healthy connection has lasted.
 * bench/reconnect.js drives this very function.
 */
export function nextRetry (attempt: number, hintMs: number | null, heldMs: number, elapsedMs: number, settings: BackoffSettings, random: () => number): { delayMs: number, source: 'hint' | 'backoff' } {
  const { delayMs, source } = retryDelay(attempt, hintMs, settings, random, elapsedMs)
  return { delayMs: Math.max(0, delayMs - heldMs), source }
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
