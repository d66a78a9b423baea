import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, LogLevel } from 'fastify'
import { ReadinessOptionError } from '../lib/common/errors.js'
import { buildBody, type BodyInput, type HealthFormat, type HealthInfo, type Verdict } from '../lib/health/format.js'
import { booleanOption, describe, enumOption, isPlainObject, rejectUnknownKeys, stringListOption } from '../lib/common/options.js'
import { detailsAllowed, parseDetailsPolicy, type DetailsPolicy } from '../lib/health/details-policy.js'
import { PROBES_PLUGIN_NAME } from './probes.js'
import { claimPart, ensureReadiness, rejectUnknownPluginKeys } from '../lib/core/app.js'

export type { DetailsPolicy } from '../lib/health/details-policy.js'

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

export const HEALTH_PLUGIN_NAME = 'fastify-readiness-health'

const HEALTH_JSON = 'application/health+json'
const JSON_TYPE = 'application/json; charset=utf-8'
const ROUTE_NAME = /^[a-z0-9][a-z0-9_-]*$/i

type Scope = BodyInput['scope']

interface HealthRoute {
  paths: string[]
  scope: Scope
  verdict: () => Verdict
  details: DetailsPolicy
  group?: BodyInput['group'] | (() => BodyInput['group'])
}

const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (fastify, opts) => {
  rejectUnknownPluginKeys('health', opts as Record<string, unknown>, ['prefix', 'logLevel', 'details', 'exposeNames', 'format', 'groups', 'additionalPaths', 'info', 'cors'])
  const prefix = parsePrefix(opts.prefix)
  const details = parseDetailsPolicy('health.details', opts.details)
  const names = booleanOption('health.exposeNames', opts.exposeNames, false)
  const defaultFormat = enumOption<HealthFormat>('health.format', opts.format, ['json', 'health+json'], 'json')
  const groups = parseGroups(opts.groups)
  const extra = parseAdditionalPaths(opts.additionalPaths)
  const info = parseInfo(opts.info)
  const allowOrigin = parseCors(opts.cors)
  const logLevel = opts.logLevel ?? 'warn'
  const readiness = ensureReadiness(fastify)
  claimPart(fastify, 'the health routes')

  const websocketReady = (): boolean => readiness.websocket.isReadyForConnections()
  const fullyReady = (): Verdict => readiness.isReady() && websocketReady() ? (readiness.degraded ? 'warn' : 'pass') : 'fail'

  const routes: HealthRoute[] = [
    // Liveness never consults a dependency, pressure, draining or the details policy: only a broken process fails it.
    { paths: [`${prefix}/live`, ...extra.live], scope: 'live', verdict: () => readiness.isLive() ? 'pass' : 'fail', details: details === 'always' ? 'always' : 'never' },
    { paths: [`${prefix}/startup`, ...extra.startup], scope: 'startup', verdict: () => readiness.startupState === 'done' ? 'pass' : 'fail', details },
    { paths: [`${prefix}/ready`, ...extra.ready], scope: 'all', verdict: fullyReady, details },
    { paths: [`${prefix}/websocket`, ...extra.websocket], scope: 'websocket', verdict: () => websocketReady() ? 'pass' : 'fail', details }
  ]
  for (const [name, group] of Object.entries(groups)) {
    const missing = (): string[] => readiness.groupMissing(group.include, group.exclude)
    const includes = (check: string): boolean => !group.exclude.includes(check) && (group.include === undefined || group.include.includes(check))
    routes.push({
      paths: [`${prefix}/ready/${name}`, ...(group.additionalPath === undefined ? [] : [group.additionalPath])],
      scope: 'all',
      verdict: () => missing().length === 0 ? (readiness.degraded ? 'warn' : 'pass') : 'fail',
      details: group.details ?? details,
      group: () => ({ includes, missing: missing() })
    })
  }

  // Anonymous JSON bodies never change shape, so the common ones are serialized once.
  const cached = new Map<string, string>()
  const anonymousJson = (verdict: Verdict, retryAfter: number | null): string => {
    const key = `${verdict}:${retryAfter ?? ''}`
    let body = cached.get(key)
    if (body === undefined) {
      body = JSON.stringify(retryAfter === null ? { status: verdict } : { status: verdict, retryAfter })
      cached.set(key, body)
    }
    return body
  }

  // Synchronous unless the policy is a function: a probe hitting /health/ready every second should not pay
  // for a promise it does not need.
  function answer (request: FastifyRequest, reply: FastifyReply, route: HealthRoute): FastifyReply | Promise<FastifyReply> {
    if (typeof route.details !== 'function') return respond(request, reply, route, route.details === 'always')
    // Never rejects: a throwing, hanging or async policy just means "not allowed".
    return detailsAllowed(route.details, request).then((allowed) => respond(request, reply, route, allowed))
  }

  function respond (request: FastifyRequest, reply: FastifyReply, route: HealthRoute, allowed: boolean): FastifyReply {
    const format = negotiate(request.headers.accept, defaultFormat)
    // The verdict is read after the (possibly async) policy, so it is the state of now.
    const verdict = route.verdict()
    const retryAfter = verdict === 'fail' && route.scope !== 'live' ? readiness.retryAfterSeconds() : null
    reply.header('cache-control', 'no-store')
    if (allowOrigin !== null) {
      const origin = allowOrigin(request.headers.origin)
      if (origin !== null) reply.headers({ 'access-control-allow-origin': origin, 'access-control-expose-headers': 'Retry-After', vary: 'Origin' })
    }
    if (verdict === 'fail') reply.code(503)
    if (retryAfter !== null) reply.header('retry-after', String(retryAfter))
    if (format === 'json' && !allowed && !names) return reply.type(JSON_TYPE).send(anonymousJson(verdict, retryAfter))
    const group = typeof route.group === 'function' ? route.group() : route.group
    const input: BodyInput = {
      verdict,
      retryAfter,
      details: allowed,
      names,
      scope: route.scope,
      status: () => readiness.status(),
      websocket: () => readiness.websocket.getConnectionReadiness(),
      componentTypes: (probe) => readiness.componentType(probe)
    }
    if (info !== undefined) input.info = info
    if (group !== undefined) input.group = group
    const body = buildBody(format, input)
    return reply.type(format === 'health+json' ? HEALTH_JSON : JSON_TYPE).send(JSON.stringify(body))
  }

  const seen = new Set<string>()
  for (const route of routes) {
    for (const url of route.paths) {
      if (seen.has(url)) throw new ReadinessOptionError('health', `serves "${url}" twice: check additionalPaths and the groups' additionalPath`)
      seen.add(url)
      fastify.route({
        method: ['GET', 'HEAD'],
        url,
        exposeHeadRoute: false,
        logLevel,
        // Health routes must answer in every state: never gated by the suite.
        readiness: false,
        handler: (request, reply) => answer(request, reply, route)
      })
    }
  }

  if (Object.keys(groups).length > 0) {
    fastify.addHook('onReady', async function checkGroups () {
      for (const [name, group] of Object.entries(groups)) {
        if (group.include !== undefined) readiness.assertKnown(group.includePath, group.include)
        readiness.assertKnown(`health.groups.${name}.exclude`, group.exclude)
      }
    })
  }
}

// Plain path segments only: `?` and `#` end the path (every route 404s), `:`
// and `*` are Fastify route parameters, `%` and spaces need encoding, and `.`
// or `..` segments are normalised away by clients and proxies.
const PREFIX = /^(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._~-]+)+$/

/**
 * The body format for an Accept header, by media type and quality (not a
 * substring: `application/health+jsonx` is not health+json). health+json when
 * the client names it with a quality above 0 and at least plain JSON's; JSON
 * when the client prefers it (or refuses health+json with `q=0`); else the default.
 */
function negotiate (accept: string | undefined, fallback: HealthFormat): HealthFormat {
  if (accept === undefined) return fallback
  // The common case costs one substring test: kubelets and load balancers never ask for health+json.
  if (fallback === 'json' && !accept.toLowerCase().includes(HEALTH_JSON)) return 'json'
  const health = quality(accept, HEALTH_JSON)
  const json = quality(accept, 'application/json')
  if (health.named && health.q > 0 && health.q >= json.q) return 'health+json'
  return json.q > health.q ? 'json' : fallback
}

/** The quality the header gives `type`, from its most specific range (the type itself, then `application/` wildcards, then any type), and whether it names it. */
function quality (accept: string, type: string): { q: number, named: boolean } {
  let best = { q: 0, specificity: -1, named: false }
  for (const range of accept.toLowerCase().split(',')) {
    const [media = '', ...params] = range.split(';')
    const name = media.trim()
    const specificity = name === type ? 2 : name === 'application/*' ? 1 : name === '*/*' ? 0 : -1
    if (specificity < best.specificity || specificity === -1) continue
    let q = 1
    for (const param of params) {
      const [key, value] = param.split('=').map((part) => part.trim())
      // RFC 9110 qvalues: 0 to 1, at most three decimals; anything else is ignored.
      if (key === 'q' && value !== undefined && /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(value)) q = Number(value)
    }
    // Equally specific ranges (a type listed twice): the higher quality counts.
    if (specificity > best.specificity || q > best.q) best = { q, specificity, named: best.named || specificity === 2 }
  }
  return { q: best.q, named: best.named }
}

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

interface ParsedGroup { include: string[] | undefined, exclude: string[], details: DetailsPolicy | undefined, additionalPath: string | undefined, includePath: string }

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

export default fp(healthPlugin, { fastify: '5.x', name: HEALTH_PLUGIN_NAME, dependencies: [PROBES_PLUGIN_NAME] })
