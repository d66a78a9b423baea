import { ReadinessOptionError } from '../common/errors.js'
import type { ProbeCheck, ProbeConfig } from './probe.js'
import { booleanOption, durationOption, functionOption, integerOption, isPlainObject, describe, rejectUnknownKeys } from '../common/options.js'

/** What users write: a bare check function, or an object with a check and its settings. */
export type ProbeDefinition = ProbeCheck | ProbeObjectDefinition

export interface ProbeObjectDefinition {
  check: ProbeCheck
  timeout?: number
  interval?: number
  /**
   * First delay between runs until the first pass (ms, default 50). While the
   * dependency stays down it backs off with jitter (each delay between the
   * previous one and 3x it, then 0.8-1x `interval`), so a dependency that comes
   * up is seen within `interval + timeout` ms (default 3000 ms).
   */
  startInterval?: number
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

const PROBE_KEYS = ['check', 'timeout', 'interval', 'startInterval', 'critical', 'failureThreshold', 'successThreshold'] as const

export function parseProbe (path: string, definition: unknown): ProbeConfig {
  if (typeof definition === 'function') return { ...PROBE_DEFAULTS, check: definition as ProbeCheck }
  if (!isPlainObject(definition)) {
    throw new ReadinessOptionError(path, `must be a check function or an object with a "check" function, got ${describe(definition)}`)
  }
  rejectUnknownKeys(path, definition, PROBE_KEYS)
  const check = functionOption<ProbeCheck>(`${path}.check`, definition.check, true) as ProbeCheck
  return {
    check,
    timeout: durationOption(`${path}.timeout`, definition.timeout, PROBE_DEFAULTS.timeout),
    interval: durationOption(`${path}.interval`, definition.interval, PROBE_DEFAULTS.interval),
    startInterval: durationOption(`${path}.startInterval`, definition.startInterval, PROBE_DEFAULTS.startInterval),
    critical: booleanOption(`${path}.critical`, definition.critical, PROBE_DEFAULTS.critical),
    // A threshold of 1e300 never trips: past a few hundred runs it means "never", which is a bug, not a setting.
    failureThreshold: integerOption(`${path}.failureThreshold`, definition.failureThreshold, PROBE_DEFAULTS.failureThreshold, 1, MAX_THRESHOLD),
    successThreshold: integerOption(`${path}.successThreshold`, definition.successThreshold, PROBE_DEFAULTS.successThreshold, 1, MAX_THRESHOLD)
  }
}
