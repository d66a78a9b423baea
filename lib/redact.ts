/**
 * Probe errors end up in health output and logs. Drivers love to put the
 * connection string in their messages ("connect ECONNREFUSED ... postgres://app:s3cret@db"),
 * so every stored message goes through here first: credentials in URLs and
 * key=value secrets are masked, and only the first line of the message is kept
 * (no stack traces, no multi-line dumps).
 */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*)(?::[^\s/@]*)?@/gi
const KEY_VALUE_SECRET = /\b(password|passwd|pwd|secret|token|api[-_]?key|access[-_]?key|auth)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi
const MAX_LENGTH = 300

export function redactMessage (message: string): string {
  const firstLine = message.split('\n', 1)[0] ?? ''
  const masked = firstLine
    .replace(URL_CREDENTIALS, '$1***@')
    .replace(KEY_VALUE_SECRET, '$1$2***')
  return masked.length > MAX_LENGTH ? `${masked.slice(0, MAX_LENGTH)}…` : masked
}

export interface RedactedError {
  message: string
  code?: string
  name: string
}

export function redactError (error: unknown): RedactedError {
  const err = error instanceof Error ? error : new Error(String(error))
  const code = (err as { code?: unknown }).code
  const out: RedactedError = { name: err.name, message: redactMessage(err.message) }
  if (typeof code === 'string') out.code = code
  return out
}
