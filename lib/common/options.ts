import { types } from 'node:util'
import { ReadinessOptionError, safeString } from './errors.js'
import { redactMessage } from '../redact/index.js'

/**
 * Small validators for plugin options. Each names the option path in its error,
 * which is the whole point: a bad value must fail at registration, loudly and
 * precisely, never later as a crash inside a timer.
 */

/** Longest duration Node's timers can represent; setTimeout turns anything above into 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647

/**
 * An object literal or `Object.create(null)`. Anything else is refused, in
 * particular `{ __proto__: check }`, which sets the prototype instead of naming
 * an entry: the entry would silently vanish.
 */
export function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || types.isProxy(value)) return false
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

/** A copy (see `readOptions`): callers iterate it without running the user's getters again. */
export function objectOption (path: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {}
  if (!isPlainObject(value)) throw new ReadinessOptionError(path, `must be a plain object, got ${describe(value)}`)
  return readOptions(path, value)
}

/**
 * Every parser calls this first, the sections of files that read their options
 * directly included, so a getter that throws is reported here, naming its option
 * path, instead of surfacing later as a bare `Error` from deep inside the suite.
 */
export function rejectUnknownKeys (path: string, value: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new ReadinessOptionError(join(path, key), `is not a known option (known here: ${allowed.join(', ')})`)
    }
    const descriptor = Object.getOwnPropertyDescriptor(value, key)
    if (descriptor?.get !== undefined) readEntry(path, value, key)
  }
}

/**
 * A copy of a plain option object's own enumerable entries, each read once.
 * Null-prototype, so an own `__proto__` key stays an entry (and is then refused
 * by `nameOption`) instead of silently becoming the copy's prototype.
 */
export function readOptions (path: string, value: Record<string, unknown>): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>
  for (const key of Object.keys(value)) out[key] = readEntry(path, value, key)
  return out
}

function readEntry (path: string, value: Record<string, unknown>, key: string): unknown {
  try {
    return value[key]
  } catch (err) {
    throw new ReadinessOptionError(join(path, key), `could not be read: its getter threw ${JSON.stringify(redactMessage(safeString(err)).slice(0, 120))}`)
  }
}

function join (path: string, key: string): string {
  const shown = key.length > 100 ? `${key.slice(0, 100)}…` : key
  return path === '' ? shown : `${path}.${shown}`
}

export function durationOption (path: string, value: unknown, fallback: number, { allowZero = false } = {}): number {
  if (value === undefined) return fallback
  const ok = typeof value === 'number' && Number.isFinite(value) && (allowZero ? value >= 0 : value > 0)
  if (!ok) {
    throw new ReadinessOptionError(path, `must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds, got ${describe(value)}`)
  }
  // Timers cannot wait less than 1 ms, and a 0.001 ms probe timeout fails every run.
  if (value > 0 && value < 1) throw new ReadinessOptionError(path, `must be ${allowZero ? '0 or ' : ''}at least 1 ms (timers cannot wait less), got ${value}`)
  // setTimeout clamps anything above 2^31-1 to 1 ms, which would turn a huge
  // timeout into an instant one.
  if (value > MAX_TIMER_MS) throw new ReadinessOptionError(path, `must be at most ${MAX_TIMER_MS} ms (the longest a Node timer can wait), got ${value}`)
  return value
}

export function integerOption (path: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`
    throw new ReadinessOptionError(path, `must be an integer ${range}, got ${describe(value)}`)
  }
  return value
}

export function booleanOption (path: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new ReadinessOptionError(path, `must be true or false, got ${describe(value)}`)
  return value
}

export function enumOption<T extends string> (path: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ReadinessOptionError(path, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`)
  }
  return value as T
}

export function stringListOption (path: string, value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) {
    throw new ReadinessOptionError(path, `must be an array of names, got ${describe(value)}`)
  }
  const seen = new Set<string>()
  for (const name of value as string[]) {
    if (seen.has(name)) throw new ReadinessOptionError(path, `names "${name}" twice`)
    seen.add(name)
  }
  return value as string[]
}

export function functionOption<T extends (...args: never[]) => unknown> (path: string, value: unknown, required: boolean): T | undefined {
  if (value === undefined && !required) return undefined
  if (typeof value !== 'function') {
    throw new ReadinessOptionError(path, `must be a function${required ? ' (it is required)' : ''}, got ${describe(value)}`)
  }
  return value as T
}

/**
 * Names end up in health JSON keys, log lines, metric labels and group paths:
 * letters, digits and `_ . : -`, starting with a letter, digit or `_`, at most
 * 100 characters. No spaces, `/`, NUL, newlines or other control characters.
 */
const NAME = /^[\p{L}\p{N}_][\p{L}\p{N}_.:-]{0,99}$/u

export function nameOption (path: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value) || value === '__proto__') {
    throw new ReadinessOptionError(path, `must be a name of letters, digits, "_", ".", ":" and "-" (at most 100, no spaces, "/" or control characters), got ${describe(value)}`)
  }
  return value
}

export function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  switch (typeof value) {
    case 'string': return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
    case 'symbol': return 'a symbol'
    case 'number': case 'boolean': case 'bigint': return String(value)
    case 'undefined': return 'undefined'
    case 'function': return 'a function'
    default: return types.isProxy(value) ? 'a proxy' : Object.getPrototypeOf(value) === null || Object.getPrototypeOf(value) === Object.prototype ? 'an object' : 'an object with a prototype (e.g. { __proto__: ... }) or a class instance'
  }
}
