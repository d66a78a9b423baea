/**
 * When a probe whose dependency is down runs next (issue 24). The gaps grow with the time the
 * dependency has been down, not with the number of attempts, so that one back after T ms is seen
 * within `startInterval + SLOPE x T` ms, the passing check included, for T from `fromMs` (1 s with
 * defaults), while one that stays down is checked less and less often, down to one check per
 * `interval`, jittered so a fleet does not check in step.
 *
 * Each gap between the starts of two checks is the longest that keeps that bound for a dependency
 * back just after the first of them began: `startInterval + SLOPE x t - MARGIN_MS` after a check that
 * began t ms into the outage, MARGIN_MS being what the passing check and a late timer may take. A check
 * that ran long takes its time out of the delay that follows it, so it costs the bound nothing.
 *
 * The first second: the bound starts at 1 s, and every check spent before it is one of the 60 allowed
 * in the first 30 s (a ramp from t = 0 costs 69-79). So it gets a check at 0 (startup), one halfway to
 * the deadline, and one starting by the deadline `fromMs + bound(fromMs) - MARGIN_MS` (1095 ms), in time
 * for a dependency back at 1 s; one back sooner is seen by 1.1 s.
 *
 * Figures with the defaults (startInterval 50, interval 2000; bench/probe-schedule.js): seen within
 * 100 ms after 1 s down, 175 ms after 2.5 s, 300 ms after 5 s, 550 ms after 10 s, 1550 ms after 30 s,
 * 2305 ms from 45.1 s on; at most 60 checks in the first 30 s (the shortest delays every time, checks
 * free); from 39.1 s on (rampEndMs) every delay is between `interval` and 1.15 x `interval`.
 */

/** Share of the time already down added to the gap, and the bound: seen within startInterval + 5 % of T. */
export const SLOPE = 0.05
/** Down time from which the bound holds (issue 24: T from 1 s), unless 20 x startInterval is sooner. */
export const FROM_MS = 1000
/**
 * Kept out of each gap for the passing check's own time and a timer that fires late, in ms: measured on
 * a loaded 2-CPU box, a loopback TCP connect takes 0.5 ms (p99 4 ms) and a timer fires 0.3 ms late (p99
 * 2.5 ms). Each ms of it costs about a fifth of a check in the first 30 s.
 */
export const MARGIN_MS = 5
/** While ramping each gap is random in [1 - JITTER, 1] x its bound: downward, so the bound holds. 2 %: 3 % costs a 61st check. */
export const JITTER = 0.02
/** At the cap each delay is random in [interval, (1 + CAP_JITTER) x interval], within the bound: upward, so the rate holds. */
export const CAP_JITTER = 0.15

export interface ScheduleConfig {
  /** The bound's base, in ms: a dependency back after T ms down is seen within startInterval + 5 % of T. */
  startInterval: number
  /** The cadence once the dependency has stayed down long enough, in ms: delays never fall below it there. */
  interval: number
}

/** Down time from which `lagBoundMs` is `startInterval + SLOPE x T`: 1 s, or sooner for a probe set to poll faster. */
export function fromMs (config: ScheduleConfig): number {
  return Math.min(FROM_MS, config.startInterval / SLOPE)
}

/** The longest gap between the start of a check that began `downForMs` into the outage and the next one's. */
function reachMs (downForMs: number, config: ScheduleConfig): number {
  const { startInterval } = config
  const from = fromMs(config)
  const t = Math.max(0, downForMs)
  if (t >= from) return startInterval + SLOPE * t - MARGIN_MS
  const atFrom = startInterval + SLOPE * from - MARGIN_MS
  const deadline = from + atFrom
  return t < from / 2 ? Math.max((deadline - t) / 2, atFrom) : deadline - t
}

/**
 * Down time from which every delay is at least `interval` (and at most 1.15 x `interval`), in ms:
 * 39.1 s with defaults; 0 for a fixed period (startInterval >= interval).
 */
export function rampEndMs (config: ScheduleConfig): number {
  const { startInterval, interval } = config
  if (startInterval >= interval) return 0
  // The gap only shrinks below its value at fromMs before fromMs, so reaching interval there is enough.
  if (reachMs(fromMs(config), config) >= interval) return 0
  return Math.ceil((interval - startInterval + MARGIN_MS) / SLOPE)
}

/** The longest delay after a check that began `downForMs` into the outage and took no time, in ms. */
export function delayBoundMs (downForMs: number, config: ScheduleConfig): number {
  const { startInterval, interval } = config
  if (startInterval >= interval) return interval
  const reach = reachMs(downForMs, config)
  // While ramping never longer than interval; at the cap the jitter goes upward, within the reach.
  return downForMs >= rampEndMs(config) ? Math.min(reach, interval * (1 + CAP_JITTER)) : Math.min(reach, interval)
}

/**
 * The delay before the next run of a probe that has been failing (or not yet passed): `downForMs` is
 * how long the dependency had been down when the last check began, `tookMs` how long that check ran.
 * `random() = 1` gives the shortest delay, 0 the longest.
 */
export function downDelayMs (downForMs: number, config: ScheduleConfig, random: () => number = Math.random, tookMs = 0): number {
  const { startInterval, interval } = config
  if (startInterval >= interval) return interval
  const bound = delayBoundMs(downForMs, config)
  if (downForMs >= rampEndMs(config)) {
    const longest = Math.max(interval, bound - tookMs)
    return Math.floor(longest - random() * (longest - interval))
  }
  return Math.max(1, Math.floor(bound * (1 - JITTER * random()) - tookMs))
}

/**
 * A dependency back after `downForMs` ms down is seen within this many ms, the passing check included,
 * provided it and the timer's lateness take at most MARGIN_MS: `startInterval + SLOPE x T` from
 * `fromMs` on, by `fromMs` + that before it, never more than the longest delay at the cap + MARGIN_MS.
 */
export function lagBoundMs (downForMs: number, config: ScheduleConfig): number {
  const { startInterval, interval } = config
  if (startInterval >= interval) return interval + MARGIN_MS
  const from = fromMs(config)
  const T = Math.max(0, downForMs)
  return Math.min(startInterval + SLOPE * Math.max(T, from) + Math.max(0, from - T), interval * (1 + CAP_JITTER) + MARGIN_MS)
}
