import { types } from 'node:util'
import { isSecretKey, redactMessage } from '../redact/index.js'

/**
 * What a check may resolve with instead of nothing (issue 19): a status and
 * what it measured, in the spirit of nestjs `up(data)`, ASP.NET
 * `HealthCheckResult.Degraded(data)` and the IETF health+json
 * `observedValue`/`observedUnit`. Resolving with nothing (or with anything that
 * is not shaped like this) is a pass; throwing is a fail.
 */
export interface ProbeResult {
  /** `warn`: passing but degraded. `fail` counts as a failed run (with `message`). Default `pass`. */
  status?: 'pass' | 'warn' | 'fail'
  /** What the check measured (JSON-safe; bounded when stored). */
  observedValue?: unknown
  /** Unit of `observedValue`, e.g. `ms`, `percent`, `connections`. */
  observedUnit?: string
  /** Anything else worth showing (JSON-safe; bounded when stored). */
  details?: Record<string, unknown>
  /** Why the check says `fail` or `warn`. */
  message?: string
}

export interface ParsedResult {
  status: 'pass' | 'warn' | 'fail'
  message?: string
  observedValue?: unknown
  observedUnit?: string
  details?: Record<string, unknown>
}

const RESULT_KEYS = new Set(['status', 'observedValue', 'observedUnit', 'details', 'message'])
const STATUSES = new Set(['pass', 'warn', 'fail'])

/**
 * Reads what a check resolved with. Only a plain object made of the result's
 * keys counts as a result, so a check that resolves with a driver's reply (a
 * pg QueryResult, a fetch Response whose `status` is 200, 'PONG') still simply
 * passes. Never throws, whatever the value's getters or Proxy traps do.
 */
export function parseResult (value: unknown): ParsedResult {
  if (!isPlainRecord(value)) return { status: 'pass' }
  // At most RESULT_KEYS.size keys can all be result keys: a longer object stops early.
  const keys = ownKeys(value, RESULT_KEYS.size + 1)
  if (keys === null || keys.length === 0 || !keys.every((k) => RESULT_KEYS.has(k))) return { status: 'pass' }
  const read = (key: string): unknown => {
    try {
      return value[key]
    } catch {
      return undefined
    }
  }
  const status = read('status')
  const message = read('message')
  const out: ParsedResult = { status: 'pass' }
  if (status !== undefined && !STATUSES.has(status as string)) {
    // `{ status: 'up' }` from a nestjs habit must not pass silently.
    return { status: 'fail', message: `check resolved with status ${typeof status === 'string' ? JSON.stringify(status.slice(0, 40)) : typeof status}; expected 'pass', 'warn' or 'fail'` }
  }
  if (status !== undefined) out.status = status as ParsedResult['status']
  if (typeof message === 'string') out.message = message
  else if (out.status === 'fail') out.message = 'check reported fail'
  const observedValue = read('observedValue')
  if (observedValue !== undefined) {
    const safe = toJsonSafe(observedValue)
    if (safe !== undefined) out.observedValue = safe
  }
  const unit = read('observedUnit')
  if (typeof unit === 'string' && unit !== '') out.observedUnit = redactMessage(unit).slice(0, MAX_UNIT)
  const details = read('details')
  if (details !== undefined) {
    const safe = toJsonSafe(details)
    if (isPlainRecord(safe)) out.details = safe
  }
  return out
}

const MAX_UNIT = 32
const MAX_DEPTH = 4
const MAX_ENTRIES = 32
const MAX_STRING = 200
const MAX_NODES = 200

/**
 * A bounded, JSON-safe copy: at most MAX_NODES values, MAX_DEPTH levels and
 * MAX_ENTRIES entries per level; strings are cut and redacted, values under
 * secret-looking keys masked, cycles, functions and symbols dropped, and
 * nothing the copy holds can throw when serialized. `undefined` means "nothing
 * worth keeping".
 */
export function toJsonSafe (value: unknown): unknown {
  const budget = { nodes: MAX_NODES }
  return copy(value, 0, budget, new Set())
}

function copy (value: unknown, depth: number, budget: { nodes: number }, seen: Set<object>): unknown {
  if (--budget.nodes < 0) return undefined
  switch (typeof value) {
    case 'string': return redactMessage(value).slice(0, MAX_STRING)
    case 'number': return Number.isFinite(value) ? value : null
    case 'boolean': return value
    case 'bigint': return value.toString()
    case 'undefined': case 'function': case 'symbol': return undefined
  }
  if (value === null) return null
  const object = value as object
  if (types.isProxy(object) || seen.has(object) || depth >= MAX_DEPTH) return undefined
  // Only a real Date, read through the built-in methods: `Object.create(Date.prototype)`
  // passes `instanceof` and throws on getTime(), a subclass may override toISOString().
  if (types.isDate(object)) {
    const time = Date.prototype.getTime.call(object)
    return Number.isFinite(time) ? Date.prototype.toISOString.call(object) : null
  }
  seen.add(object)
  try {
    if (Array.isArray(object)) {
      const out: unknown[] = []
      for (let i = 0; i < Math.min(object.length, MAX_ENTRIES); i++) {
        const item = copy(readGuarded(object, i), depth + 1, budget, seen)
        out.push(item === undefined ? null : item)
      }
      return out
    }
    if (!isPlainRecord(object)) return undefined
    const out: Record<string, unknown> = {}
    const keys = ownKeys(object, MAX_ENTRIES)
    if (keys === null) return undefined
    for (const key of keys) {
      // Keys reach the body as they are, so they are redacted like values (`{ 'postgres://u:pw@h': 1 }`).
      const safeKey = redactMessage(key).slice(0, MAX_STRING)
      if (safeKey === '__proto__') continue
      // Matched on the key's words (`auth`, `pw`, `sid`, `connect.sid`, not `tokensUsed`); an object or array under it goes whole. Read on the redacted key, so a URL key keeps its (masked) value.
      if (isSecretKey(safeKey)) {
        out[safeKey] = '***'
        continue
      }
      const item = copy(readGuarded(object, key), depth + 1, budget, seen)
      if (item !== undefined) out[safeKey] = item
    }
    return out
  } finally {
    seen.delete(object)
  }
}

/**
 * The first `max` own enumerable keys (null: enumeration threw), stopping there
 * rather than copying every key into an array. V8 still collects the keys of a
 * dictionary-mode object before the first iteration (a 200,000-key object costs
 * about what Object.keys does, ~50 ms); the cap bounds all the work after that.
 */
function ownKeys (object: object, max: number): string[] | null {
  const keys: string[] = []
  try {
    for (const key in object) {
      if (!Object.prototype.hasOwnProperty.call(object, key)) continue
      keys.push(key)
      if (keys.length >= max) break
    }
  } catch {
    return null
  }
  return keys
}

function readGuarded (object: object, key: string | number): unknown {
  try {
    return (object as Record<string | number, unknown>)[key]
  } catch {
    return undefined
  }
}

function isPlainRecord (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || types.isProxy(value)) return false
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}
