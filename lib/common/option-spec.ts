import { ReadinessOptionError } from './errors.js'
import { rejectUnknownKeys } from './options.js'

/**
 * One option of a plugin: how its value is read (and checked) at registration. `parse` gets the
 * option's full path (`shutdown.delayMs`) for its error, and `undefined` when the option is absent,
 * so the default lives in one place: the parser.
 */
export interface OptionSpec<T> {
  parse: (path: string, value: unknown) => T
  /** One line for the docs' option table; a docs test checks every key is documented. */
  doc: string
}

export type OptionTable = Record<string, OptionSpec<unknown>>

/** What a table reads: each key's parsed type. */
export type ParsedOptions<S extends OptionTable> = { [K in keyof S]: S[K] extends OptionSpec<infer T> ? T : never }

/** Registration keys Fastify itself may pass along with a plugin's options. */
const FASTIFY_KEYS = ['prefix', 'logLevel', 'logSerializers'] as const

/**
 * Reads a plugin's options by its table: an unknown key is refused naming it (and the known ones),
 * every known key is parsed once, in the table's order. The table is the single list of keys: the
 * allow-list, the defaults (in the parsers) and the docs check all come from it.
 */
export function readOptionTable<S extends OptionTable> (prefix: string, opts: Record<string, unknown>, table: S, { plugin = true, renamed = {} }: { plugin?: boolean, renamed?: Record<string, string> } = {}): ParsedOptions<S> {
  const keys = Object.keys(table)
  // A key renamed in 0.3.0 gets its new name in the error, not only "unknown".
  for (const [old, now] of Object.entries(renamed)) {
    if (Object.hasOwn(opts, old)) throw new ReadinessOptionError(prefix === '' ? old : `${prefix}.${old}`, `was renamed to ${now} in 0.3.0 (the same value, in ms)`)
  }
  rejectUnknownKeys(prefix, opts, plugin ? [...keys, ...FASTIFY_KEYS] : keys)
  const out: Record<string, unknown> = {}
  for (const key of keys) {
    out[key] = (table[key] as OptionSpec<unknown>).parse(prefix === '' ? key : `${prefix}.${key}`, opts[key])
  }
  return out as ParsedOptions<S>
}

/** Declares one option (keeps the parser's type for `ParsedOptions`). */
export function option<T> (doc: string, parse: (path: string, value: unknown) => T): OptionSpec<T> {
  return { doc, parse }
}
