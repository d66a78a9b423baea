/**
 * The close frames the suite sends, and what each tells a client about the
 * messages it sent on that socket. RFC 6455 gives no code for "your messages
 * never reached the app", so the reason text carries it: the client reads the
 * prefix, never the rest. Shared by the gate (server) and the client (browser
 * bundle), so it must stay free of Node imports.
 *
 * | code | reason starts with | the app's handler ... |
 * | --- | --- | --- |
 * | 1013 | `not admitted` | never ran: everything sent on the socket is undelivered |
 * | 1013 | `dependency lost` | ran (closeOnLoss): messages may have been handled |
 * | 1012 / 1001 | anything (the drain's `closeReason`) | ran: messages may have been handled |
 */
export const TRY_AGAIN_LATER = 1013

export const NOT_ADMITTED_PREFIX = 'not admitted'
export const DEPENDENCY_LOST_PREFIX = 'dependency lost'

/** Reason of a 1013 from the gate before any handler ran. At most 123 bytes with any `seconds`. */
export function notAdmittedReason (retryAfterSeconds: number): string {
  return `${NOT_ADMITTED_PREFIX}: not ready; retry in ${retryAfterSeconds}s`
}

/** Reason of a 1013 from `closeOnLoss`, after the handler ran. */
export function dependencyLostReason (retryAfterSeconds: number): string {
  return `${DEPENDENCY_LOST_PREFIX}; retry in ${retryAfterSeconds}s`
}

/** True when a close says the app's handler never saw the socket. */
export function handlerNeverRan (code: number, reason: string): boolean {
  return code === TRY_AGAIN_LATER && reason.startsWith(NOT_ADMITTED_PREFIX)
}

/** The `retry in Ns` hint of a gate close, or null. */
export function retryHint (reason: string): number | null {
  const match = /retry in (\d{1,9})s/.exec(reason)
  return match === null ? null : Number(match[1])
}
