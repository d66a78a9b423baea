import { safeRead, toError } from '../common/errors.js'
import { maskCliSecrets, maskMysqlPasswords } from './command-line.js'
import { maskKeyValues } from './key-values.js'
import { AUTH_SCHEME, BASIC_SCHEME, KNOWN_TOKENS, PEM_PRIVATE_KEY, SLASH_CREDENTIALS, WEBHOOK } from './patterns.js'
import { maskUrls } from './url.js'

export { isSecretKey } from './keys.js'

/**
 * Probe and phase errors end up in health output and logs. Drivers love to put
 * the connection string in their messages ("connect ECONNREFUSED ...
 * postgres://app:s3cret@db"), so every stored message goes through here first:
 * credentials in URLs, key=value / JSON / header secrets and well-known token
 * formats are masked, and only the first line of the message is kept (no stack
 * traces, no multi-line dumps).
 *
 * Every pattern runs in linear time: each one may only start at the beginning
 * of a run of characters (a lookbehind refuses starts inside a run), its
 * repeats are bounded or deterministic (no two ways to split the same text),
 * so a 1 MB single-line token or base64 body cannot make the engine retry from
 * every position (the old patterns were quadratic: 100 KB took 7-9 s). On top,
 * only the first SCAN_LIMIT characters of the first line are looked at.
 *
 * Layout: patterns.ts (secret formats by shape), url.ts (userinfo in URLs, one
 * linear scan), keys.ts (which key names are secrets), key-values.ts (the value
 * after such a key), command-line.ts (CLI options, mysql -p).
 */

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
  return truncate(maskLine(line), MAX_LENGTH)
}

/**
 * The masking pass alone, without the scan window (exported for the linear-time
 * test, which checks it scales linearly past the window too).
 * @internal
 */
export function maskLine (line: string): string {
  // The key first: other patterns would otherwise take its body apart and keep pieces.
  let out = maskUrls(line.replace(PEM_PRIVATE_KEY, '$1***'))
  out = maskMysqlPasswords(out)
  out = maskCliSecrets(out.replace(SLASH_CREDENTIALS, '$1/***@'))
  return maskKeyValues(out)
    .replace(AUTH_SCHEME, '$1 ***')
    .replace(BASIC_SCHEME, (match: string, scheme: string, value: string) => Buffer.from(value, 'base64').toString('latin1').includes(':') ? `${scheme} ***` : match)
    .replace(WEBHOOK, '$1***')
    .replace(KNOWN_TOKENS, '***')
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
