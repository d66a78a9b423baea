import type { LogLevel } from 'fastify'
import { ReadinessOptionError } from '../common/errors.js'
import { option, readOptionTable, type ParsedOptions } from '../common/option-spec.js'
import { booleanOption, describe, enumOption, isPlainObject, rejectUnknownKeys, stringListOption } from '../common/options.js'
import { parseDetailsPolicy, type DetailsPolicy } from './details-policy.js'
import type { HealthFormat, HealthInfo } from './format.js'

/** A Spring-style health group: which checks it reports on, who sees its details, where else it is served. */
export interface HealthGroupOptions {
  /** Phases and probes the group needs. Default: everything full readiness needs. */
  include?: string[]
  /** Phases and probes left out (e.g. `['pressure']`). */
  exclude?: string[]
  /** The group's own details policy (default: the plugin's `details`). */
  details?: DetailsPolicy
  /** Also serve the group at this path, outside the prefix (e.g. `/readyz/chat`). */
  additionalPath?: string
}

export interface HealthPluginOptions {
  /** Path prefix of the routes (default `/health`). */
  prefix?: string
  /** Log level of the health routes (default `warn`, so a probe every second does not flood the log). */
  logLevel?: LogLevel
  /**
   * Who sees phases, probes, latencies and (redacted) errors. Default `never`: status only. A function may be
   * async; it is awaited within 1 s, and a throw, a rejection or a timeout all mean "not allowed".
   */
  details?: DetailsPolicy
  /** Let anonymous callers see check names and their statuses (never latencies or errors). Default false. */
  exposeNames?: boolean
  /** Default body format; `application/health+json` is also served whenever the client asks for it. */
  format?: HealthFormat
  /**
   * Health groups, served at `/health/ready/<name>`: a list of phase and probe names (`{ chat: ['redis'] }`),
   * or `{ include, exclude, details, additionalPath }`.
   */
  groups?: Record<string, string[] | HealthGroupOptions>
  /** Extra paths of the built-in routes, outside the prefix, for operators who expect them: `{ live: '/livez', ready: '/readyz' }`. */
  additionalPaths?: Partial<Record<'live' | 'ready' | 'startup' | 'websocket', string>>
  /** Who is answering (`version`, `commit`, `instanceId`), shown with details or `exposeNames`. */
  info?: HealthInfo
  /**
   * CORS for browser clients on other origins (the client helper asks `/health/websocket` when to retry):
   * `true` for any origin, or the allowed origins. Default: none.
   */
  cors?: boolean | string | string[]
}

const ROUTE_NAME = /^[a-z0-9][a-z0-9_-]*$/i

/** The health plugin's options: the one list of its keys, each with its parser and default. */
export const HEALTH_OPTIONS = {
  prefix: option('Path prefix of the routes (default `/health`).', (_path, value) => parsePrefix(value)),
  logLevel: option('Log level of the health routes (default `warn`).', (path, value) => parseLogLevel(path, value)),
  details: option('Who sees phases, probes, latencies and redacted errors (default `never`).', (path, value) => parseDetailsPolicy(path, value)),
  exposeNames: option('Anonymous callers see check names and statuses (default false).', (path, value) => booleanOption(path, value, false)),
  format: option('Default body format: `json` or `health+json` (default `json`).', (path, value) => enumOption<HealthFormat>(path, value, ['json', 'health+json'], 'json')),
  groups: option('Health groups served at `/health/ready/<name>`.', (_path, value) => parseGroups(value)),
  additionalPaths: option('Extra paths of the built-in routes, e.g. `{ live: \'/livez\' }`.', (_path, value) => parseAdditionalPaths(value)),
  info: option('`version`, `commit`, `instanceId` shown with details.', (_path, value) => parseInfo(value)),
  cors: option('CORS for browser clients on other origins: `true` or the allowed origins.', (_path, value) => parseCors(value))
}

// Any level the app's logger knows (pino custom levels included) is Fastify's to check.
function parseLogLevel (path: string, value: unknown): LogLevel {
  if (value === undefined) return 'warn'
  if (typeof value !== 'string' || value === '') throw new ReadinessOptionError(path, `must be a log level name like "warn", got ${describe(value)}`)
  return value as LogLevel
}

export type HealthSettings = ParsedOptions<typeof HEALTH_OPTIONS>

export function readHealthOptions (opts: Record<string, unknown>): ParsedOptions<typeof HEALTH_OPTIONS> {
  return readOptionTable('health', opts, HEALTH_OPTIONS)
}

// Plain path segments only: `?` and `#` end the path (every route 404s), `:`
// and `*` are Fastify route parameters, `%` and spaces need encoding, and `.`
// or `..` segments are normalised away by clients and proxies.
const PREFIX = /^(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._~-]+)+$/

function parsePrefix (value: unknown): string {
  if (value === undefined) return '/health'
  if (value === '/') return ''
  if (typeof value !== 'string' || value.length > 200 || !PREFIX.test(value)) {
    throw new ReadinessOptionError('health.prefix', `must be a path starting with "/" and not ending with one, of segments made of letters, digits and "._~-" (no "?", "#", ":", "*", "%", spaces, "//" or "." segments), got ${describe(value)}`)
  }
  return value
}

function parseCors (value: unknown): ((origin: string | undefined) => string | null) | null {
  if (value === undefined || value === false) return null
  if (value === true) return () => '*'
  const list = typeof value === 'string' ? [value] : value
  // An origin is scheme://host[:port], exactly as browsers send it: no path, query, fragment, credentials or spaces.
  if (!Array.isArray(list) || list.length === 0 || list.some((o) => typeof o !== 'string' || !ORIGIN.test(o) || !validPort(o))) {
    throw new ReadinessOptionError('health.cors', `must be true or origins like "https://chat.example.com", got ${describe(value)}`)
  }
  return (origin) => origin !== undefined && list.includes(origin) ? origin : null
}

const ORIGIN = /^https?:\/\/(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

function validPort (origin: string): boolean {
  const port = /:(\d{1,5})$/.exec(origin)?.[1]
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535)
}

export interface ParsedGroup { include: string[] | undefined, exclude: string[], details: DetailsPolicy | undefined, additionalPath: string | undefined, includePath: string }

function parseGroups (value: unknown): Record<string, ParsedGroup> {
  if (value === undefined) return {}
  if (!isPlainObject(value)) throw new ReadinessOptionError('health.groups', `must be an object of group name to phase and probe names (or { include, exclude, details, additionalPath }), got ${describe(value)}`)
  const out: Record<string, ParsedGroup> = {}
  for (const [name, group] of Object.entries(value)) {
    const path = `health.groups.${name}`
    if (!ROUTE_NAME.test(name) || name.length > 64) throw new ReadinessOptionError(path, 'must be a name of letters, digits, "-" and "_" (it becomes a path segment)')
    if (Array.isArray(group)) {
      const list = stringListOption(path, group)
      if (list.length === 0) throw new ReadinessOptionError(path, 'must name at least one phase or probe')
      out[name] = { include: list, exclude: [], details: undefined, additionalPath: undefined, includePath: path }
      continue
    }
    if (!isPlainObject(group)) throw new ReadinessOptionError(path, `must be a list of phase and probe names or { include, exclude, details, additionalPath }, got ${describe(group)}`)
    rejectUnknownKeys(path, group, ['include', 'exclude', 'details', 'additionalPath'])
    const include = group.include === undefined ? undefined : stringListOption(`${path}.include`, group.include)
    if (include !== undefined && include.length === 0) throw new ReadinessOptionError(`${path}.include`, 'must name at least one phase or probe (leave it out to include everything)')
    out[name] = {
      include,
      exclude: stringListOption(`${path}.exclude`, group.exclude),
      details: group.details === undefined ? undefined : parseDetailsPolicy(`${path}.details`, group.details),
      additionalPath: group.additionalPath === undefined ? undefined : parsePath(`${path}.additionalPath`, group.additionalPath),
      includePath: `${path}.include`
    }
  }
  return out
}

function parseAdditionalPaths (value: unknown): Record<'live' | 'ready' | 'startup' | 'websocket', string[]> {
  const out = { live: [] as string[], ready: [] as string[], startup: [] as string[], websocket: [] as string[] }
  if (value === undefined) return out
  if (!isPlainObject(value)) throw new ReadinessOptionError('health.additionalPaths', `must be an object like { live: '/livez', ready: '/readyz' }, got ${describe(value)}`)
  rejectUnknownKeys('health.additionalPaths', value, ['live', 'ready', 'startup', 'websocket'])
  for (const key of ['live', 'ready', 'startup', 'websocket'] as const) {
    if (value[key] !== undefined) out[key].push(parsePath(`health.additionalPaths.${key}`, value[key]))
  }
  return out
}

/**
 * A plain static path, by the prefix's rule: no parameters, wildcards, query
 * or fragment (each would make the route something else), and no `.` or `..`
 * segment (`/..` or `/a/./b` is normalised by clients and proxies into a path
 * the route never sees).
 */
function parsePath (path: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > 200 || !PREFIX.test(value)) {
    throw new ReadinessOptionError(path, `must be a static path like "/livez" (letters, digits, ".", "_", "~", "-" between slashes, no "." or ".." segments), got ${describe(value)}`)
  }
  return value
}

function parseInfo (value: unknown): HealthInfo | undefined {
  if (value === undefined) return undefined
  if (!isPlainObject(value)) throw new ReadinessOptionError('health.info', `must be an object { version, commit, instanceId }, got ${describe(value)}`)
  rejectUnknownKeys('health.info', value, ['version', 'commit', 'instanceId'])
  const out: HealthInfo = {}
  for (const key of ['version', 'commit', 'instanceId'] as const) {
    const field = value[key]
    if (field === undefined) continue
    // Printable ASCII, bounded: these go out verbatim in every detailed body.
    if (typeof field !== 'string' || field.length === 0 || field.length > 200 || !/^[\x20-\x7e]+$/.test(field)) {
      throw new ReadinessOptionError(`health.info.${key}`, `must be a non-empty printable string of at most 200 characters, got ${describe(field)}`)
    }
    out[key] = field
  }
  return out
}
