import { ReadinessOptionError } from '../common/errors.js'
import type { ProbeCheck, ProbeConfig } from './probe.js'
import { booleanOption, durationOption, functionOption, integerOption, isPlainObject, describe } from '../common/options.js'
import { option, readOptionTable } from '../common/option-spec.js'

/** What users write: a bare check function, or an object with a check and its settings. */
export type ProbeDefinition = ProbeCheck | ProbeObjectDefinition

export interface ProbeObjectDefinition {
  check: ProbeCheck
  /** Bound on one run, in ms (default 1000). */
  timeoutMs?: number
  /** Delay between runs once the probe has passed, in ms (default 2000). */
  intervalMs?: number
  /**
   * Base of the schedule while not passing (ms, default 50): one back after T
   * ms down (T from 1 s) is seen within `startIntervalMs + 5 % of T` (175 ms
   * after 2.5 s with defaults, never more than 1.15 x `intervalMs` + 5 ms), and
   * one that stays down gets at most 60 checks in the first 30 s, then one per
   * `intervalMs` or fewer.
   */
  startIntervalMs?: number
  critical?: boolean
  failureThreshold?: number
  successThreshold?: number
}

export const PROBE_DEFAULTS = {
  timeout: 1000,
  interval: 2000,
  startInterval: 50,
  critical: true,
  failureThreshold: 1,
  successThreshold: 1
} as const

export const MAX_THRESHOLD = 1000

/** One probe's options: the allow-list and the defaults come from here. */
export const PROBE_OPTIONS = {
  check: option('the check: `async (signal) => {}`; throw (or return { status: \'fail\' }) to fail', (path, v) => functionOption<ProbeCheck>(path, v, true) as ProbeCheck),
  timeoutMs: option('bound on one run, in ms (default 1000)', (path, v) => durationOption(path, v, PROBE_DEFAULTS.timeout)),
  intervalMs: option('delay between runs once passing, in ms (default 2000)', (path, v) => durationOption(path, v, PROBE_DEFAULTS.interval)),
  startIntervalMs: option('first delay between runs while not passing, in ms (default 50; grows with the time down, to intervalMs)', (path, v) => durationOption(path, v, PROBE_DEFAULTS.startInterval)),
  critical: option('whether readiness needs it (default true); a failing non-critical probe only degrades', (path, v) => booleanOption(path, v, PROBE_DEFAULTS.critical)),
  // A threshold of 1e300 never trips: past a few hundred runs it means "never", which is a bug, not a setting.
  failureThreshold: option('consecutive failures before it fails (default 1)', (path, v) => integerOption(path, v, PROBE_DEFAULTS.failureThreshold, 1, MAX_THRESHOLD)),
  successThreshold: option('consecutive passes before it passes again (default 1)', (path, v) => integerOption(path, v, PROBE_DEFAULTS.successThreshold, 1, MAX_THRESHOLD))
}

/** Keys renamed in 0.3.0 (one unit convention: ...Ms). */
export const PROBE_RENAMED = { timeout: 'timeoutMs', interval: 'intervalMs', startInterval: 'startIntervalMs' }

export function parseProbe (path: string, definition: unknown): ProbeConfig {
  if (typeof definition === 'function') return { ...PROBE_DEFAULTS, check: definition as ProbeCheck }
  if (!isPlainObject(definition)) {
    throw new ReadinessOptionError(path, `must be a check function or an object with a "check" function, got ${describe(definition)}`)
  }
  const o = readOptionTable(path, definition, PROBE_OPTIONS, { plugin: false, renamed: PROBE_RENAMED })
  // The probe keeps its own field names (timeout, interval, startInterval): its schedule is unchanged.
  return { check: o.check, timeout: o.timeoutMs, interval: o.intervalMs, startInterval: o.startIntervalMs, critical: o.critical, failureThreshold: o.failureThreshold, successThreshold: o.successThreshold }
}
