import { ReadinessOptionError } from '../common/errors.js'
import { logError } from '../common/log-error.js'
import { describe, isPlainObject, readOptions } from '../common/options.js'
import { Probe, type ProbeCheck, type ProbeStatus } from '../probes/probe.js'
import { parseProbe, type ProbeObjectDefinition } from '../probes/options.js'
import type { ReadinessLogger } from './api.js'

/**
 * A probe from `addProbe`'s arguments (its name already checked): a check function plus options,
 * or one object. Its
 * failed runs are logged at debug level (the state change, if any, is logged by the state).
 */
export function buildProbe (name: string, check: ProbeCheck | ProbeObjectDefinition, options: unknown, log: ReadinessLogger, onChange: (probe: Probe, previous: ProbeStatus) => void): Probe {
  const path = `probes.${name}`
  const extra = readProbeOptions(path, options)
  const definition = typeof check === 'function' ? { ...extra, check } : isPlainObject(check) ? { ...readOptions(path, check), ...extra } : check
  return new Probe(name, parseProbe(path, definition), onChange, (p, err) => {
    log.debug({ probe: p.name, err: logError(err) }, 'readiness probe check failed')
  })
}

/**
 * Logs a probe's change of status. A failure is a warning once startup is done or when the probe
 * passed before; before that a failing probe is expected (the dependency is still coming up), and
 * while closing it is the shutdown working.
 */
export function logProbeChange (log: ReadinessLogger, probe: Probe, previous: ProbeStatus, { stopping, started }: { stopping: boolean, started: boolean }): void {
  const entry: Record<string, unknown> = { probe: probe.name, status: probe.status, previous, critical: probe.critical }
  // A probe that passes again carries no error: the last one is history, not its state.
  if (probe.passing) {
    log.info(entry, 'readiness probe changed')
    return
  }
  const last = probe.lastError
  if (last !== null) {
    // The stored error is already redacted and has no stack: log it as an Error without frames.
    const copy = Object.assign(new Error(String(last.message)), { name: String(last.name) }, last.code !== undefined ? { code: last.code } : {})
    copy.stack = ''
    entry.err = logError(copy)
  }
  const level = stopping ? 'info' : started || previous === 'pass' ? 'warn' : 'info'
  log[level](entry, 'readiness probe changed')
}

/** `addProbe`'s third argument, read once (a getter that throws is named by its path). */
function readProbeOptions (path: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {}
  if (!isPlainObject(value)) throw new ReadinessOptionError(path, `options must be a plain object, got ${describe(value)}`)
  return readOptions(path, value)
}
