/**
 * Each `scheme://` of the line is one URL; only its userinfo goes, never the
 * host, path or query. The URL ends at whitespace, at the quote that opened it
 * (`"url":"postgres://..."`), and before the next URL's scheme, so two URLs in
 * one JSON token are two URLs.
 */
export function maskUrls (line: string): string {
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
