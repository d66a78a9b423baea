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
 * of a run of characters (a lookbehind refuses starts inside a run), its
 * repeats are bounded or deterministic (no two ways to split the same text),
 * so a 1 MB single-line token or base64 body cannot make the engine retry from
 * every position (the old patterns were quadratic: 100 KB took 7-9 s). On top,
 * only the first SCAN_LIMIT characters of the first line are looked at.
 */

/**
 * A whitespace-delimited token holding `://` (its credentials are found by
 * `maskUrl`). It may only start a token and has no nested repeats: the old
 * pattern backtracked over every split of `user:password`, 70 ms for 8 KB of
 * colons after a scheme (and with `exposeNames`, on every /health/ready).
 */
const URL_TOKEN = /(?<!\S)\S*?:\/\/\S*/g
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
/**
 * Command lines echoed in errors: `--password s3cret`, `--db-password=s3cret`,
 * `--token abc` (a long option naming a secret, its value after `=` or spaces).
 */
const CLI_SECRET = new RegExp(
  '(?<![\\w-])(--[\\w-]{0,40}?(?:passw(?:or)?d|pass(?![a-z])|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|auth(?:orization)?(?![a-z])|credentials?)[\\w-]{0,40}(?:=|\\s{1,8}))' +
  '(?!-)("[^"\\n]{0,4096}"|\'[^\'\\n]{0,4096}\'|[^\\s"\']{1,4096})',
  'gi'
)
/** MySQL's `-p<password>` (no space): masked only on a line that names a MySQL/MariaDB client, where `-p` means password. */
const MYSQL_CLIENT = /mysql|mariadb/i
const MYSQL_PASSWORD = /(?<=^|[\s"'])(-p)(?![\s-])\S{1,4096}/g
/** A bare `Bearer <token>` (e.g. a header echoed without its name). */
const AUTH_SCHEME = /(?<![\w-])(bearer)\s{1,8}[a-z0-9._~+/=-]{8,4096}/gi
/**
 * A PEM private key, header, body and footer, in one line, with `\n` escapes
 * (JSON, env files) or spaces. The body is base64 plus the few header
 * characters (`Proc-Type: 4,ENCRYPTED`); it ends at the footer or at the first
 * other character, one step per character (the footer check is fixed-length).
 */
const PEM_PRIVATE_KEY = /(-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----)(?:(?!-----END)[\w+/=\s\\:,.-])*(?:-----END[A-Z ]{0,40}PRIVATE KEY-----)?/g
/** Webhook URLs whose path is the secret (Slack, Discord): the path goes. */
const WEBHOOK = /((?:hooks\.slack\.com\/(?:services|workflows|triggers)|discord(?:app)?\.com\/api\/webhooks)\/)[A-Za-z0-9/_-]{1,512}/gi
/** An AWS secret access key: 40 characters of base64, shown by its neighbour, an access key id (either order). */
const AWS_SEPARATOR = '[\\s:,;=|"\'/]{1,8}(?:[\\w-]{1,40}[\\s:,;=|"\']{1,8})?'
const AWS_SECRET = '[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])'
/** Token formats secret scanners know by shape alone. */
const KNOWN_TOKENS = new RegExp([
  `(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])(?:${AWS_SEPARATOR}${AWS_SECRET})?`, // AWS access key id (and its secret)
  `(?<![A-Za-z0-9/+=])${AWS_SECRET}(?=${AWS_SEPARATOR}(?:AKIA|ASIA)[0-9A-Z]{16})`, // AWS secret before its key id
  '(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9_]{16,255}', // GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_)
  '(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{16,255}', // GitHub fine-grained tokens
  '(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{30,255}', // npm tokens
  '(?<![A-Za-z0-9-])xox[abprs]-[A-Za-z0-9-]{10,255}', // Slack tokens
  '(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[A-Za-z0-9]{10,255}', // Stripe keys
  '(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,4096}\\.eyJ[A-Za-z0-9_-]{1,4096}\\.[A-Za-z0-9_-]{0,4096}' // JWTs
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
  return truncate(maskLine(line), MAX_LENGTH)
}

/**
 * The masking pass alone, without the scan window (exported for the linear-time
 * test, which checks it scales linearly past the window too).
 * @internal
 */
export function maskLine (line: string): string {
  // The key first: other patterns would otherwise take its body apart and keep pieces.
  let out = line.replace(PEM_PRIVATE_KEY, '$1***').replace(URL_TOKEN, maskUrl)
  if (MYSQL_CLIENT.test(out)) out = out.replace(MYSQL_PASSWORD, '$1***')
  return out
    .replace(SLASH_CREDENTIALS, '$1/***@')
    .replace(CLI_SECRET, '$1***')
    .replace(KEY_VALUE_SECRET, '$1***')
    .replace(AUTH_SCHEME, '$1 ***')
    .replace(WEBHOOK, '$1***')
    .replace(KNOWN_TOKENS, '***')
}

/**
 * `scheme://userinfo@host`: everything between the first `://` and the last `@`
 * of the token goes, so the password may hold `/`, `:` or `@` and the user name
 * `@` (Azure's `admin@server:password@host`). A `/` there without any `:` is a
 * path (`https://registry.npmjs.org/@scope/pkg`), not credentials.
 */
function maskUrl (token: string): string {
  const start = token.indexOf('://') + 3
  const at = token.lastIndexOf('@')
  if (at <= start) return token
  const userinfo = token.slice(start, at)
  if (userinfo.includes('/') && !userinfo.includes(':')) return token
  return `${token.slice(0, start)}***${token.slice(at)}`
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
