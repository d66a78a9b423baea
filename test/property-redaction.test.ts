import t from 'tap'
import fc from 'fast-check'
import { redactMessage, MAX_LENGTH } from '../lib/redact/index.js'

/**
 * Arbitrary messages up to 1 MB (issue 16). Redaction is bounded by a scan
 * window and linear patterns; a quadratic regression would blow the suite's
 * time limit (tap's timeout; every run does all its cases, whatever the machine's load),
 * with no timed assertion here: bench/hostile-redaction.js measures.
 */
const PIECES = ['a', 'A1', ' ', '@', ':', '/', '//', '://', '=', '"', "'", '\\', 'password', 'token', 'Bearer ', 'postgres', 'DB_', '_KEY', '.', '-', '+', '?', '&', ';', ',', '\t', 'é', '😀', '\ud800', '<div>', 'eyJ', 'AKIA', '0']

const longMessage = fc.tuple(
  fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 12 }),
  fc.integer({ min: 1, max: 1024 * 1024 })
).map(([pieces, size]) => {
  const unit = pieces.join('')
  return unit.repeat(Math.max(1, Math.floor(size / unit.length))).slice(0, 1024 * 1024)
})

const SECRET = 'Zq9sEcReT7'
const leaks = [
  (s: string) => `connect postgres://app:${s}@db.internal:5432/app failed`,
  (s: string) => `mysql://root:p@${s}/x@db:3306 refused`,
  (s: string) => `DB_PASSWORD=${s} rejected`,
  (s: string) => `{"user":"app","password":"${s}"}`,
  (s: string) => `Authorization: Bearer ${s}`,
  (s: string) => `client_secret=${s}&x=1`,
  (s: string) => `AWS_SECRET_ACCESS_KEY=${s}`,
  (s: string) => `ORA-01017 app/${s}@ORCL`,
  (s: string) => `x-api-key: ${s}`,
  (s: string) => `apiKey='${s}'`
]

t.test('arbitrary messages up to 1 MB redact to a bounded first line', async (t) => {
  fc.assert(fc.property(fc.oneof(longMessage, fc.string({ maxLength: 2000, unit: 'binary' })), (message) => {
    const out = redactMessage(message)
    return out.length <= MAX_LENGTH + 1 && !out.includes('\n') && !out.includes('\r')
  }), { numRuns: 200 })
  t.pass()
})

t.test('a secret in a known format never survives, whatever surrounds it', async (t) => {
  fc.assert(fc.property(
    fc.string({ maxLength: 300 }).filter((s) => !/[\r\n]/.test(s)),
    fc.integer({ min: 0, max: leaks.length - 1 }),
    fc.string({ maxLength: 300 }).filter((s) => !/[\r\n]/.test(s)),
    (before, which, after) => {
      const message = `${before} ${leaks[which]?.(SECRET) ?? ''} ${after}`
      return !redactMessage(message).includes(SECRET.slice(0, 6))
    }
  ), { numRuns: 2000 })
  t.pass()
})
