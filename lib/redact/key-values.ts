import { isNotASecret, isSecretKey, keyWords } from './keys.js'

/**
 * A key and its separator (`key=`, `key: `, `"key":`). The key is a run of
 * name characters, only matched from the run's start; whether it names a
 * secret is decided by `isSecretKey` on its words, and the value is read by
 * `maskValue`. Both are plain code: one pass, no backtracking over values.
 */
const KEY_SEPARATOR = /(?<![\w.-])([\w.-]{1,80})(\\?["']?)\s{0,8}[=:]\s{0,8}/g
/** Cookie-valued keys: every `name=value` pair of the value is masked, not only the first. */
const COOKIE_KEY = /(?:^|_)(?:set_)?cookies?$/
/** Set-Cookie attributes: not secrets, kept. */
const COOKIE_ATTRIBUTE = /^(?:path|domain|expires|max-age|samesite|secure|httponly|priority|partitioned)$/i
const AUTH_SCHEME_PREFIX = /(?:bearer|basic|digest|token|negotiate)\s{1,8}/iy
const BARE_VALUE = /[^\s,;&"']{1,4096}/y
const ARRAY_ITEM = /[^\s,;&"'[\]{}:=]{1,256}/y
const ARRAY_SCAN = 4096
const COOKIE_PAIR = /([^=;,\s"']{1,256})=([^;\s"']{0,4096})/y
const SPACES = /\s{0,8}/y

/**
 * Every `key=value` / `key: value` / `"key":"value"` whose key names a secret:
 * the value goes (a quoted string to its closing quote however long, a JSON
 * array of strings, each pair of a cookie list, an auth scheme's credentials,
 * or a bare token). A value that is an object is not masked here: its own keys
 * are scanned. One left-to-right pass.
 */
export function maskKeyValues (line: string): string {
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
