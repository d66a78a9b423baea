import { safeRead, toError } from '../common/errors.js'

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

/** Oracle-style `user/password@service` (`app/s3cret@ORCL`, `jdbc:oracle:thin:app/s3cret@db`), only at the start of a token. */
const SLASH_CREDENTIALS = /(?<=^|[\s"'=(,;:])(?![0-9]{1,64}\/)([a-z0-9_$#.-]{1,64})\/[^\s/@]{1,256}@(?=[a-z0-9_.-])/gi
/**
 * A key and its separator (`key=`, `key: `, `"key":`). The key is a run of
 * name characters, only matched from the run's start; whether it names a
 * secret is decided by `isSecretKey` on its words, and the value is read by
 * `maskValue`. Both are plain code: one pass, no backtracking over values.
 */
const KEY_SEPARATOR = /(?<![\w.-])([\w.-]{1,80})(\\?["']?)\s{0,8}[=:]\s{0,8}/g
/**
 * Secret-looking key names, in the spirit of pino's redact paths and secret
 * scanners (gitleaks, detect-secrets), matched on the key's words (split at
 * `_`, `-`, `.` and camelCase): `DB_PASSWORD`, `client_secret`, `x-api-key`,
 * `secretAccessKey`, `connect.sid`, `AccountKey`, `sig`; never a longer word
 * that merely contains one (`passed`, `bypass`, `compass`, `tokensUsed`, `author`).
 * A few words are secret wherever they appear (`PGPASSWORD`, `passwd`).
 */
const SECRET_SUBSTRING = /passw|passphrase|secret/
const SECRET_KEY_WORDS = new RegExp('(?:^|_)(?:' + [
  'pass', 'pw', 'pwd', 'token', 'auth', 'authori[sz]ation', 'credentials?', 'creds', 'cookies?', 'set_cookie',
  'sid', 'session_?(?:id|key|token)', 'jwt', 'dsn', 'bearer', 'signature', 'sig',
  '(?:api|access|private|priv|secret|account|client|signing|shared_access|master|encryption|sas)_?key',
  '(?:access|auth|refresh|id|api|bearer|session|csrf|xsrf|oauth|private|security|sas)_?token',
  'connection_?string', 'conn_?str', 'apikey'
].join('|') + ')(?:_|$)')
/** Keys that name a secret only on their own (`session`, not `target_session_attrs`). */
const SECRET_WHOLE_KEY = /^(?:session|sess)$/
/** A secret's name, id, type or file is not the secret (`SharedAccessKeyName`, `api_key_id`, `token_type`), except a session id. */
const SECRET_METADATA = /_(?:name|id|type|file|path|length|count|expires?|ttl)$/
/** Cookie-valued keys: every `name=value` pair of the value is masked, not only the first. */
const COOKIE_KEY = /(?:^|_)(?:set_)?cookies?$/
/** Set-Cookie attributes: not secrets, kept. */
const COOKIE_ATTRIBUTE = /^(?:path|domain|expires|max-age|samesite|secure|httponly|priority|partitioned)$/i
/** Bare values after a secret-looking key that are not secrets: error codes and status words. */
const NOT_A_SECRET = /^(?:yes|no|true|false|null|undefined|invalid|failed|expired|missing|none|not|empty|required|basic|bearer|digest)$/i
const ERROR_CODE = /^E[A-Z]{2,}(?:_[A-Z0-9]+)*$/
const AUTH_SCHEME_PREFIX = /(?:bearer|basic|digest|token|negotiate)\s{1,8}/iy
const BARE_VALUE = /[^\s,;&"']{1,4096}/y
const ARRAY_ITEM = /[^\s,;&"'[\]{}:=]{1,256}/y
const ARRAY_SCAN = 4096
const COOKIE_PAIR = /([^=;,\s"']{1,256})=([^;\s"']{0,4096})/y
const SPACES = /\s{0,8}/y
/**
 * Command lines echoed in errors: `--password s3cret`, `--db-password=s3cret`,
 * `--token abc` (a long option naming a secret, its value after `=` or spaces).
 * `--password-stdin` is a flag and `--token-file` takes a path: both are kept.
 */
const CLI_SECRET = /(?<![\w-])--([\w-]{1,80})(=|\s{1,8})(?!-)("[^"\n]{0,4096}"|'[^'\n]{0,4096}'|[^\s"']{1,4096})/g
const CLI_NOT_A_VALUE = /[-_](?:stdin|file|path|fd|env)$/i
/**
 * MySQL's `-p<password>` (no space), only in a mysql/mysqldump/mariadb command
 * line: the command word followed by options (`mysql -uroot -ps3cret -h db`).
 * `-port`, `-path=` after other words (`mysql: ... -port 3306`) are not it.
 */
const MYSQL_COMMAND = /(?<![\w-])(?:mysql|mysqldump|mysqladmin|mysqlimport|mariadb|mariadb-dump)(?=\s{1,8}-)/g
const COMMAND_TOKEN = /\s{1,8}(\S{1,4096})/y
const MYSQL_SHORT_WITH_VALUE = /^-[hPSuDe]$/
/** A long option written with one dash (`-port`, `-path=/x`, `-protocol=tcp`): shown, not taken for a password. */
const MYSQL_LONG_OPTION_TYPO = /^-p(?:ort|ath|rotocol|ipe|lugin[\w-]*|rint[\w-]*|ager|rompt)(?:=|$)/
/** A bare `Bearer <token>` (e.g. a header echoed without its name). */
const AUTH_SCHEME = /(?<![\w-])(bearer)\s{1,8}[a-z0-9._~+/=-]{8,4096}/gi
/** A bare `Basic <base64>`: masked when it decodes to `user:password` (not `Basic authentication`). */
const BASIC_SCHEME = /(?<![\w-])(basic)\s{1,8}([A-Za-z0-9+/]{4,4096}={0,2})(?![\w+/=])/gi
/**
 * A PEM private key, header, body and footer, in one line, with `\n` escapes
 * (JSON, env files) or spaces. The body is base64 plus the few header
 * characters (`Proc-Type: 4,ENCRYPTED`); it ends at the footer or at the first
 * other character, one step per character (the footer check is fixed-length).
 */
const PEM_PRIVATE_KEY = /(-----BEGIN[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----)(?:(?!-----END)[\w+/=\s\\:,.-])*(?:-----END[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?/g
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
  '(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{30,64}', // Google API keys
  '(?<![A-Za-z0-9_-])sk-(?:proj|ant|svcacct|admin)-[A-Za-z0-9_-]{16,255}', // OpenAI / Anthropic keys
  '(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,255}', // GitLab personal access tokens
  '(?<![A-Za-z0-9_.-])SG\\.[A-Za-z0-9_-]{16,64}\\.[A-Za-z0-9_-]{16,128}', // SendGrid keys
  '(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,8192}\\.eyJ[A-Za-z0-9_-]{1,8192}\\.[A-Za-z0-9_-]{0,8192}' // JWTs
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
  let out = maskUrls(line.replace(PEM_PRIVATE_KEY, '$1***'))
  out = maskMysqlPasswords(out)
  out = out
    .replace(SLASH_CREDENTIALS, '$1/***@')
    .replace(CLI_SECRET, (match: string, name: string, separator: string, value: string) =>
      !isSecretKey(name) || CLI_NOT_A_VALUE.test(name) || isNotASecret(value) ? match : `--${name}${separator}***`)
  return maskKeyValues(out)
    .replace(AUTH_SCHEME, '$1 ***')
    .replace(BASIC_SCHEME, (match: string, scheme: string, value: string) => Buffer.from(value, 'base64').toString('latin1').includes(':') ? `${scheme} ***` : match)
    .replace(WEBHOOK, '$1***')
    .replace(KNOWN_TOKENS, '***')
}

/**
 * Whether a key (`DB_PASSWORD`, `x-api-key`, `secretAccessKey`, `connect.sid`)
 * names a secret, by its words: see SECRET_KEY_WORDS. Shared with the details
 * of probe results.
 */
export function isSecretKey (key: string): boolean {
  const words = keyWords(key)
  if (SECRET_METADATA.test(words) && !/(?:^|_)session_?id$/.test(words)) return false
  return SECRET_SUBSTRING.test(words) || SECRET_KEY_WORDS.test(words) || SECRET_WHOLE_KEY.test(words)
}

/** `secretAccessKey`, `x-api-key`, `connect.sid` -> `secret_access_key`, `x_api_key`, `connect_sid`. */
function keyWords (key: string): string {
  return key.slice(0, 200).replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().replace(/[^a-z0-9]+/g, '_')
}

/** `NO`, `ECONNRESET`, `expired)`: what follows `password:` or `token:` in an error, not a secret. */
function isNotASecret (value: string): boolean {
  const word = value.replace(/[).,:!?\]}>]+$/, '')
  return NOT_A_SECRET.test(word) || ERROR_CODE.test(word)
}

/**
 * Every `key=value` / `key: value` / `"key":"value"` whose key names a secret:
 * the value goes (a quoted string to its closing quote however long, a JSON
 * array of strings, each pair of a cookie list, an auth scheme's credentials,
 * or a bare token). A value that is an object is not masked here: its own keys
 * are scanned. One left-to-right pass.
 */
function maskKeyValues (line: string): string {
  let out = ''
  let copied = 0
  KEY_SEPARATOR.lastIndex = 0
  let match: RegExpExecArray | null
  while ((match = KEY_SEPARATOR.exec(line)) !== null) {
    const valueStart = match.index + match[0].length
    const key = match[1] ?? ''
    if (!isSecretKey(key)) {
      // Not a secret: keep scanning right after the separator (the value may be `{ password: ... }`).
      KEY_SEPARATOR.lastIndex = valueStart
      continue
    }
    const masked = maskValue(line, valueStart, COOKIE_KEY.test(keyWords(key)))
    if (masked === null) {
      KEY_SEPARATOR.lastIndex = valueStart
      continue
    }
    out += line.slice(copied, valueStart) + masked.text
    copied = masked.end
    KEY_SEPARATOR.lastIndex = masked.end
  }
  return copied === 0 ? line : out + line.slice(copied)
}

/** The masked form of the value at `start` and where it ends; null when there is nothing to mask. */
function maskValue (line: string, start: number, cookie: boolean): { text: string, end: number } | null {
  const first = line[start]
  if (first === undefined || first === '{') return null
  if (first === '"' || first === "'") return { text: '***', end: quotedEnd(line, start) }
  // JSON inside a JSON string: `{\\"password\\":\\"s3cret\\"}`.
  if (first === '\\' && (line[start + 1] === '"' || line[start + 1] === "'")) {
    const close = line.indexOf(`\\${line[start + 1]}`, start + 2)
    return { text: '***', end: close === -1 ? line.length : close + 2 }
  }
  if (first === '[') {
    const end = stringArrayEnd(line, start)
    return end === -1 ? null : { text: '***', end }
  }
  if (cookie) {
    const masked = maskCookies(line, start)
    if (masked !== null) return masked
  }
  let at = start
  AUTH_SCHEME_PREFIX.lastIndex = at
  let scheme = ''
  if (AUTH_SCHEME_PREFIX.test(line)) {
    scheme = line.slice(at, AUTH_SCHEME_PREFIX.lastIndex)
    at = AUTH_SCHEME_PREFIX.lastIndex
  }
  BARE_VALUE.lastIndex = at
  const bare = BARE_VALUE.exec(line)
  if (bare === null) return null
  if (isNotASecret(bare[0])) return { text: line.slice(start, BARE_VALUE.lastIndex), end: BARE_VALUE.lastIndex }
  return { text: `${scheme}***`, end: BARE_VALUE.lastIndex }
}

/** The end (exclusive) of the quoted string at `start`, escape-aware for `"`; the line's end when unterminated. */
function quotedEnd (line: string, start: number): number {
  const quote = line[start]
  for (let i = start + 1; i < line.length; i++) {
    const c = line[i]
    if (c === '\\' && quote === '"') i++
    else if (c === quote) return i + 1
  }
  return line.length
}

/**
 * The end of a JSON-ish array of strings or bare tokens at `start` (`["a", "b"]`),
 * or -1 when it holds anything else (an object: its keys are scanned). An array
 * still open at the line's end or past ARRAY_SCAN characters is masked to the end.
 */
function stringArrayEnd (line: string, start: number): number {
  let i = start + 1
  for (let items = 0; items <= 64; items++) {
    if (i - start > ARRAY_SCAN) return line.length
    while (line[i] === ' ' || line[i] === '\t') i++
    const c = line[i]
    if (c === undefined) return line.length
    if (c === ']') return i + 1
    if (c === '"' || c === "'") i = quotedEnd(line, i)
    else {
      ARRAY_ITEM.lastIndex = i
      if (ARRAY_ITEM.exec(line) === null) return -1
      i = ARRAY_ITEM.lastIndex
    }
    while (line[i] === ' ' || line[i] === '\t') i++
    if (line[i] === ',') i++
    else if (line[i] !== ']') return line[i] === undefined ? line.length : -1
  }
  return -1
}

/** `a=1; sid=abc; Path=/`: each cookie's value masked (attributes kept); null when the value is no cookie list. */
function maskCookies (line: string, start: number): { text: string, end: number } | null {
  let text = ''
  let at = start
  for (let pairs = 0; pairs < 64; pairs++) {
    COOKIE_PAIR.lastIndex = at
    const pair = COOKIE_PAIR.exec(line)
    if (pair === null) break
    const name = pair[1] ?? ''
    text += COOKIE_ATTRIBUTE.test(name) ? pair[0] : `${name}=***`
    at = COOKIE_PAIR.lastIndex
    if (line[at] !== ';') break
    SPACES.lastIndex = at + 1
    SPACES.test(line)
    text += line.slice(at, SPACES.lastIndex)
    at = SPACES.lastIndex
  }
  return at === start ? null : { text, end: at }
}

/**
 * MySQL's `-p<password>` in a mysql command line: the tokens after the command
 * word are walked while they are options (or the value of `-h`, `-u`, ...).
 */
function maskMysqlPasswords (line: string): string {
  MYSQL_COMMAND.lastIndex = 0
  let out = ''
  let copied = 0
  while (MYSQL_COMMAND.exec(line) !== null) {
    let at = MYSQL_COMMAND.lastIndex
    let expectValue = false
    for (let tokens = 0; tokens < 32; tokens++) {
      COMMAND_TOKEN.lastIndex = at
      const token = COMMAND_TOKEN.exec(line)
      if (token === null) break
      const word = token[1] ?? ''
      if (!word.startsWith('-')) {
        if (!expectValue) break
        expectValue = false
      } else {
        expectValue = MYSQL_SHORT_WITH_VALUE.test(word)
        if (word.startsWith('-p') && word.length > 2 && !MYSQL_LONG_OPTION_TYPO.test(word)) {
          const valueStart = COMMAND_TOKEN.lastIndex - word.length + 2
          out += `${line.slice(copied, valueStart)}***`
          copied = COMMAND_TOKEN.lastIndex
        }
      }
      at = COMMAND_TOKEN.lastIndex
    }
    MYSQL_COMMAND.lastIndex = Math.max(at, MYSQL_COMMAND.lastIndex)
  }
  return copied === 0 ? line : out + line.slice(copied)
}

/**
 * Each `scheme://` of the line is one URL; only its userinfo goes, never the
 * host, path or query. The URL ends at whitespace, at the quote that opened it
 * (`"url":"postgres://..."`), and before the next URL's scheme, so two URLs in
 * one JSON token are two URLs.
 */
function maskUrls (line: string): string {
  const marks: number[] = []
  for (let i = line.indexOf('://'); i !== -1; i = line.indexOf('://', i + 3)) marks.push(i)
  if (marks.length === 0) return line
  let out = ''
  let copied = 0
  let nextAt = line.indexOf('@')
  for (let m = 0; m < marks.length; m++) {
    const mark = marks[m] ?? 0
    const start = mark + 3
    if (start < copied) continue
    let next = m + 1 < marks.length ? (marks[m + 1] ?? line.length) : line.length
    // The next URL starts at its scheme.
    for (let k = 0; k < 32 && next > start && next !== line.length && isSchemeChar(line.charCodeAt(next - 1)); k++) next--
    let schemeStart = mark
    for (let k = 0; k < 32 && schemeStart > 0 && isSchemeChar(line.charCodeAt(schemeStart - 1)); k++) schemeStart--
    const opener = line.charCodeAt(schemeStart - 1)
    // " ' ` close themselves, < closes with >.
    const closer = opener === 34 || opener === 39 || opener === 96 ? opener : opener === 60 ? 62 : -1
    let end = start
    while (end < next) {
      const code = line.charCodeAt(end)
      if (code === closer || isSpace(code)) break
      end++
    }
    // No `@` before the URL's end: no userinfo (the next `@` is looked up once per `@`, not per URL).
    if (nextAt < start && nextAt !== -1) nextAt = line.indexOf('@', start)
    if (nextAt === -1) break
    if (nextAt >= end) continue
    const at = userinfoEnd(line.slice(start, end))
    if (at <= 0) continue
    out += `${line.slice(copied, start)}***`
    copied = start + at
  }
  return copied === 0 ? line : out + line.slice(copied)
}

/** [A-Za-z0-9+.-] */
function isSchemeChar (code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 43 || code === 45 || code === 46
}

function isSpace (code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13) || (code > 127 && /\s/.test(String.fromCharCode(code)))
}

/**
 * Where the userinfo of `rest` (a URL after `://`) ends, i.e. the index of its
 * `@`, or -1. The authority ends at the first `/`, `?` or `#`, and its last
 * `@` ends the userinfo (the user name may hold `@`: Azure's
 * `admin@server:password@host`). Passwords with `/`, `#` or `?` unencoded are
 * still found: when what precedes the first `/?#` cannot be a host (`app:pa`,
 * a port that is not a number) the first later `@` ends the userinfo; and a
 * later `@` in the path followed by `host:port` does too (`root:p@x/y@db:3306`).
 * An `@` in the query (`?email=alice@example.com`) or in a path without a port
 * (`/@scope/pkg`) is never userinfo.
 */
function userinfoEnd (rest: string): number {
  let authorityEnd = rest.length
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i]
    if (c === '/' || c === '?' || c === '#') { authorityEnd = i; break }
  }
  const authority = rest.slice(0, authorityEnd)
  const lastAt = authority.lastIndexOf('@')
  const host = authority.slice(lastAt + 1)
  const colon = host.lastIndexOf(':')
  const validHost = host.startsWith('[') || colon === -1 || /^\d*$/.test(host.slice(colon + 1).split(',')[0] ?? '')
  if (!validHost) {
    const later = rest.indexOf('@', authorityEnd)
    return later === -1 ? lastAt : later
  }
  // A later `@` in the path (before any `?` or `#`) followed by host:port.
  const query = rest.slice(authorityEnd).search(/[?#]/)
  const pathEnd = query === -1 ? rest.length : authorityEnd + query
  const later = rest.lastIndexOf('@', pathEnd - 1)
  if (later > authorityEnd && (lastAt !== -1 || authority.includes(':')) && /^[\w.-]{1,253}:\d{1,5}(?:[/?#]|$)/.test(rest.slice(later + 1, later + 270))) return later
  return lastAt
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
