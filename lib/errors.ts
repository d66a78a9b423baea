/**
 * Thrown at registration (or from `ready()` for checks that need the whole app)
 * when an option is wrong. The message always names the option path, so a user
 * never has to guess which of many nested settings was rejected.
 */
export class ReadinessOptionError extends Error {
  readonly code = 'FST_READINESS_INVALID_OPTION'
  readonly option: string

  constructor (option: string, problem: string) {
    super(`fastify-readiness: option "${option}" ${problem}`)
    this.name = 'ReadinessOptionError'
    this.option = option
  }
}

/** A probe run that outlived its timeout. */
export class ProbeTimeoutError extends Error {
  readonly code = 'FST_READINESS_PROBE_TIMEOUT'

  constructor (probe: string, timeout: number) {
    super(`probe "${probe}" timed out after ${timeout} ms`)
    this.name = 'ProbeTimeoutError'
  }
}

/** A startup phase that failed, timed out, or could not start because a phase before it failed. */
export class PhaseError extends Error {
  readonly code = 'FST_READINESS_PHASE_FAILED'
  readonly phase: string

  constructor (phase: string, message: string, options?: { cause?: unknown }) {
    super(`startup phase "${phase}" ${message}`, options)
    this.name = 'PhaseError'
    this.phase = phase
  }
}

/** Waiting for readiness (a phase, a route's requirements) ran out of time. */
export class WaitTimeoutError extends Error {
  readonly code = 'FST_READINESS_WAIT_TIMEOUT'

  constructor (what: string, timeout: number) {
    super(`${what} not ready after ${timeout} ms`)
    this.name = 'WaitTimeoutError'
  }
}

export function toError (value: unknown): Error {
  if (value instanceof Error) return value
  return new Error(typeof value === 'string' ? value : `non-error value thrown: ${String(value)}`)
}
