import { redactMessage } from './redact.js'

/**
 * An error as pino's `err` serializer prints it (`type`, `message`, `stack`),
 * redacted: the message goes through the redactor, the stack keeps only frame
 * lines (`at fn (file:line)`), each redacted too, so a connection string in a
 * message never reaches the log through the stack's first line either. Every
 * property read is guarded: a hostile thrown value must not break logging.
 */
export interface LoggedError {
  type: string
  message: string
  stack: string
  code?: string
}

const MAX_FRAMES = 10

export function logError (error: unknown): LoggedError {
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
  const out: LoggedError = { type, message, stack: [`${type}: ${message}`, ...frames].join('\n') }
  const code = safe(() => (error as { code?: unknown } | null)?.code, undefined)
  if (typeof code === 'string') out.code = redactMessage(code)
  return out
}

function safe<T> (read: () => T, fallback: T): T {
  try { return read() } catch { return fallback }
}
