/**
 * When a probe whose dependency is down runs next. The delay grows with the time the dependency has
 * been down, not with the number of attempts: a dependency that comes back after T ms is seen within
 * `startInterval + SLOPE x T` ms (capped), so the lag stays a small share of the wait, while one that
 * stays down is checked less and less often, down to one check per `interval`.
 *
 * Figures with the defaults (startInterval 50, interval 2000; bench/probe-schedule.js): seen within
 * 130 ms after 1 s down, 250 ms after 2.5 s, 450 ms after 5 s, 850 ms after 10 s, 2353 ms after 28.8 s
 * and on; at most 60 checks in the first 30 s (2 a second) and one per `interval` or fewer from
 * 28.8 s on. The slope is 8 %, not 5 %: at 5 % the first 30 s cost 75-79 checks (2.5 a second).
 */

/** Share of the time already down added to the delay. */
export const SLOPE = 0.08
/** Each delay is random in [1 - JITTER, 1] x its bound, so a fleet that started together drifts apart. */
export const JITTER = 0.15

export interface ScheduleConfig {
  /** First delay, in ms. */
  startInterval: number
  /** The cadence once the dependency has stayed down long enough, in ms: delays never fall below it there. */
  interval: number
}

/**
 * The longest delay after `downForMs` ms down: `startInterval + SLOPE x downForMs`, capped at
 * `interval / (1 - JITTER)` so that the jittered delay at the cap is never below `interval`. A
 * dependency that comes back after T ms is seen within `delayBoundMs(T)` plus the check's own time.
 */
export function delayBoundMs (downForMs: number, config: ScheduleConfig): number {
  const { startInterval, interval } = config
  if (startInterval >= interval) return interval
  return Math.min(startInterval + SLOPE * Math.max(0, downForMs), interval / (1 - JITTER))
}

/** The delay before the next run of a probe that has been failing (or not yet passed) for `downForMs` ms. */
export function downDelayMs (downForMs: number, config: ScheduleConfig, random: () => number = Math.random): number {
  if (config.startInterval >= config.interval) return config.interval
  return Math.max(1, Math.round(delayBoundMs(downForMs, config) * (1 - JITTER * random())))
}

/** Down time after which the delay is at its cap (one check per `interval` or fewer), in ms. */
export function rampEndMs (config: ScheduleConfig): number {
  const { startInterval, interval } = config
  if (startInterval >= interval) return 0
  return Math.ceil((interval / (1 - JITTER) - startInterval) / SLOPE)
}
