import { safeRead, toError } from './errors.js'

/**
 * Probe and phase errors end up in health output and logs. Drivers love to put
 * the connection string in their messages ("connect ECONNREFUSED ...
 * postgres://app:s3cret@db"), so every stored message goes through here first:
 * credentials in URLs, key=value / JSON / header secrets and well-known token
 * formats are masked, and only the first line of the message is kept (no stack
 * traces, no multi-line dumps).
 *
 * Every pattern runs in linear time: each one may only start at the beginning
 * of a run of characters (a lookbehind refuses starts inside a run) and its
 * repeats are bounded, so a 1 MB single-line token or base64 body cannot make
 * the engine retry from every position (the old patterns were quadratic: 100 KB
 * took 7-9 s). On top, only the first SCAN_LIMIT characters of the first line
 * are looked at.
 */

/** `scheme://user:password@host`: the password may contain `/`, `:` or `@`; everything up to the last `@` of the token goes. */
const URL_CREDENTIALS = /(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,30}:\/\/)[^\s/@]*(?::[^\s]*)?@(?=[^\s@]*(?:\s|$))/gi
/** Oracle-style `user/password@service` (e.g. `app/s3cret@ORCL`), only at the start of a token. */
const SLASH_CREDENTIALS = /(?<=^|[\s"'=(,;])([a-z0-9_$#.-]{1,64})\/[^\s/@]{1,256}@(?=[a-z0-9_.-])/gi
/**
 * Secret-looking keys, in the spirit of pino's redact paths and secret
 * scanners (gitleaks, detect-secrets): the key may be part of a longer name
 * (`DB_PASSWORD`, `PGPASSWORD`, `AWS_SECRET_ACCESS_KEY`, `client_secret`,
 * `x-api-key`), quoted (`"password":"..."`), and separated by `=` or `:`.
 */
const SECRET_WORDS = [
  'passw(?:or)?d', 'pass', 'pwd', 'secret', 'token', 'api[-_]?key', 'access[-_]?key', 'private[-_]?key',
  'secret[-_]?key', 'auth', 'authorization', 'credentials?', 'cookie', 'session[-_]?id', 'signature', 'jwt',
  'bearer', 'dsn', 'connection[-_]?string', 'conn[-_]?str'
].join('|')
const KEY_VALUE_SECRET = new RegExp(
  // key: starts a run, at most 40 characters around the secret word, then an optional closing quote
  `(?<![\\w.-])((?:[\\w.-]{0,40}?)(?:${SECRET_WORDS})(?:[\\w.-]{0,40})["']?\\s{0,8}[=:]\\s{0,8})` +
  // value: an auth scheme and its credentials, a quoted string (escape-aware), or a bare token
  '((?:(?:bearer|basic|digest|token)\\s{1,8})?(?:"(?:[^"\\\\\\n]|\\\\.){0,4096}"|\'[^\'\\n]{0,4096}\'|[^\\s,;&"\']{1,4096}))',
  'gi'
)
/** A bare `Bearer <token>` (e.g. a header echoed without its name). */
const AUTH_SCHEME = /(?<![\w-])(bearer)\s{1,8}[a-z0-9._~+/=-]{8,4096}/gi
/** Token formats secret scanners know by shape alone. */
const KNOWN_TOKENS = new RegExp([
  '(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])', // AWS access key id
  '(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{30,255}', // GitHub tokens
  '(?<![A-Za-z0-9-])xox[abprs]-[A-Za-z0-9-]{10,255}', // Slack tokens
  '(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[A-Za-z0-9]{10,255}', // Stripe keys
  '(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,4096}\\.eyJ[A-Za-z0-9_-]{1,4096}\\.[A-Za-z0-9_-]{0,4096}', // JWTs
  '-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----' // PEM private keys
].join('|'), 'g')

/** Longest message kept, in characters. */
export const MAX_LENGTH = 300
/** How much of the first line is looked at: far more than is kept, far less than a stall. */
export const SCAN_LIMIT = 8 * 1024

export function redactMessage (message: string): string {
  let line = firstLine(typeof message === 'string' ? message : String(message))
  if (line.length > SCAN_LIMIT) {
    // A secret cut in half would escape the patterns: drop the partial token.
    line = line.slice(0, SCAN_LIMIT)
    const lastBreak = Math.max(line.lastIndexOf(' '), line.lastIndexOf('\t'))
    line = `${lastBreak === -1 ? '' : line.slice(0, lastBreak)} …`
  }
  const masked = line
    .replace(URL_CREDENTIALS, '$1***@')
    .replace(SLASH_CREDENTIALS, '$1/***@')
    .replace(KEY_VALUE_SECRET, '$1***')
    .replace(AUTH_SCHEME, '$1 ***')
    .replace(KNOWN_TOKENS, '***')
  return truncate(masked, MAX_LENGTH)
}

function firstLine (message: string): string {
  const nl = message.indexOf('\n')
  const cr = message.indexOf('\r')
  const end = nl === -1 ? cr : cr === -1 ? nl : Math.min(nl, cr)
  return end === -1 ? message : message.slice(0, end)
}

/** Cuts to `max` characters without splitting a surrogate pair. */
function truncate (text: string, max: number): string {
  if (text.length <= max) return text
  let end = max
  const code = text.charCodeAt(end - 1)
  if (code >= 0xd800 && code <= 0xdbff) end--
  return `${text.slice(0, end)}…`
}

export interface RedactedError {
  message: string
  code?: string
  name: string
}

/** Never throws, whatever `error` is (see `toError`). */
export function redactError (error: unknown): RedactedError {
  const err = toError(error)
  const name = safeRead(err, 'name')
  const message = safeRead(err, 'message')
  const code = safeRead(err, 'code')
  const out: RedactedError = {
    name: typeof name === 'string' && name !== '' ? truncate(redactMessage(name), 100) : 'Error',
    message: redactMessage(typeof message === 'string' ? message : '')
  }
  if (typeof code === 'string' || typeof code === 'number') out.code = truncate(redactMessage(String(code)), 100)
  return out
}
