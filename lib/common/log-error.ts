import { redactMessage } from '../redact/index.js'

/**
 * A copy of an error for the log, shaped as pino's `err` serializer prints it
 * (`type`, `message`, `stack`), redacted: the message goes through the redactor, the stack keeps only frame
 * lines (`at fn (file:line)`), each redacted too, so a connection string in a
 * message never reaches the log through the stack's first line either. Every
 * property read is guarded: a hostile thrown value must not break logging.
 * `cause` is kept, copied the same way, so a wrapped driver error keeps its
 * reason (pino prints it as `outer: inner` and `caused by:`): at most
 * MAX_CAUSES deep, and a cycle ends the chain instead of looping.
 */
export interface LoggedError extends Error {
  type: string
  code?: string
}

const MAX_FRAMES = 10
const MAX_CAUSES = 5

export function logError (error: unknown): LoggedError {
  return copy(error, new Set(), 0)
}

function copy (error: unknown, seen: Set<unknown>, depth: number): LoggedError {
  seen.add(error)
  const type = safe(() => error instanceof Error ? (typeof error.name === 'string' && error.name !== '' ? error.name : error.constructor.name) : typeof error, 'Error')
  const raw = safe(() => error instanceof Error ? error.message : typeof error === 'string' ? error : `non-error value thrown: ${typeof error}`, '')
  const message = redactMessage(typeof raw === 'string' ? raw : '')
  const frames = safe(() => {
    const stack = error instanceof Error ? error.stack : undefined
    if (typeof stack !== 'string') return []
    const out: string[] = []
    // Bounded scan: a huge stack must not cost more than a few frames' worth.
    for (const line of stack.slice(0, 8192).split('\n')) {
      if (/^\s+at /.test(line)) out.push(`    ${redactMessage(line.trim())}`)
      if (out.length === MAX_FRAMES) break
    }
    return out
  }, [])
  // A real Error, so every logger treats it as one; pino's err serializer takes
  // `type` from the constructor's name, so the copy gets one named like the original.
  const out = new Error(message) as LoggedError
  const named = function () {}
  Object.defineProperty(named, 'name', { value: type })
  Object.defineProperty(out, 'constructor', { value: named, enumerable: false })
  Object.defineProperty(out, 'name', { value: type, enumerable: false })
  out.type = type
  out.stack = [`${type}: ${message}`, ...frames].join('\n')
  const code = safe(() => (error as { code?: unknown } | null)?.code, undefined)
  if (typeof code === 'string') out.code = redactMessage(code)
  const cause = safe(() => error instanceof Error ? error.cause : undefined, undefined)
  // Defined like Error's own `cause` (not enumerable), so serializers that
  // walk own keys do not print it twice.
  if (cause !== undefined && cause !== null && !seen.has(cause) && depth < MAX_CAUSES) {
    Object.defineProperty(out, 'cause', { value: copy(cause, seen, depth + 1), enumerable: false, writable: true, configurable: true })
  }
  return out
}

function safe<T> (read: () => T, fallback: T): T {
  try { return read() } catch { return fallback }
}
