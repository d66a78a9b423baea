import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, LogLevel } from 'fastify'
import { ReadinessOptionError } from '../lib/errors.js'
import { buildBody, type BodyInput, type HealthFormat, type Verdict } from '../lib/health-format.js'
import { booleanOption, describe, enumOption, isPlainObject, stringListOption } from '../lib/options.js'
import { PROBES_PLUGIN_NAME } from './probes.js'
import { claimPart, ensureReadiness, rejectUnknownPluginKeys } from './shared.js'

export type DetailsPolicy = 'never' | 'always' | ((request: FastifyRequest) => boolean)

export interface HealthPluginOptions {
  /** Path prefix of the routes (default `/health`). */
  prefix?: string
  /** Log level of the health routes (default `warn`, so a probe every second does not flood the log). */
  logLevel?: LogLevel
  /** Who sees phases, probes, latencies and (redacted) errors. Default `never`: status only. */
  details?: DetailsPolicy
  /** Let anonymous callers see check names and their statuses (never latencies or errors). Default false. */
  exposeNames?: boolean
  /** Default body format; `application/health+json` is also served whenever the client asks for it. */
  format?: HealthFormat
  /** Readiness groups: `{ chat: ['redis'] }` serves `/health/ready/chat`, 200 when those phases and probes hold. */
  groups?: Record<string, string[]>
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

const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (fastify, opts) => {
  rejectUnknownPluginKeys('health', opts as Record<string, unknown>, ['prefix', 'logLevel', 'details', 'exposeNames', 'format', 'groups', 'cors'])
  const prefix = parsePrefix(opts.prefix)
  const details = parseDetails(opts.details)
  const names = booleanOption('health.exposeNames', opts.exposeNames, false)
  const defaultFormat = enumOption<HealthFormat>('health.format', opts.format, ['json', 'health+json'], 'json')
  const groups = parseGroups(opts.groups)
  const allowOrigin = parseCors(opts.cors)
  const logLevel = opts.logLevel ?? 'warn'
  const readiness = ensureReadiness(fastify)
  claimPart(fastify, 'the health routes')

  const websocketReady = (): boolean => readiness.websocket?.isReadyForConnections() ?? readiness.isReady()
  const fullyReady = (): Verdict => readiness.isReady() && websocketReady() ? (readiness.degraded ? 'warn' : 'pass') : 'fail'

  const routes: Array<{ path: string, scope: Scope, verdict: () => Verdict }> = [
    { path: 'live', scope: 'live', verdict: () => 'pass' },
    { path: 'startup', scope: 'startup', verdict: () => readiness.startupState === 'done' ? 'pass' : 'fail' },
    { path: 'ready', scope: 'all', verdict: fullyReady },
    { path: 'websocket', scope: 'websocket', verdict: () => websocketReady() ? 'pass' : 'fail' }
  ]
  for (const [group, requires] of Object.entries(groups)) {
    routes.push({ path: `ready/${group}`, scope: 'all', verdict: () => readiness.meets(requires) && !readiness.draining ? 'pass' : 'fail' })
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

  function answer (request: FastifyRequest, reply: FastifyReply, scope: Scope, verdict: Verdict): FastifyReply {
    const format = wantsHealthJson(request) ? 'health+json' : defaultFormat
    const allowed = details === 'always' || (typeof details === 'function' && details(request))
    const retryAfter = verdict === 'fail' ? readiness.retryAfterSeconds() : null
    reply.header('cache-control', 'no-store')
    if (allowOrigin !== null) {
      const origin = allowOrigin(request.headers.origin)
      if (origin !== null) reply.headers({ 'access-control-allow-origin': origin, 'access-control-expose-headers': 'Retry-After', vary: 'Origin' })
    }
    if (retryAfter !== null) reply.code(503).header('retry-after', String(retryAfter))
    if (format === 'json' && !allowed && !names) return reply.type(JSON_TYPE).send(anonymousJson(verdict, retryAfter))
    const body = buildBody(format, {
      verdict,
      retryAfter,
      details: allowed,
      names,
      scope,
      status: () => readiness.status(),
      websocket: () => readiness.websocket?.getConnectionReadiness() ?? null,
      componentTypes: (probe) => readiness.componentType(probe)
    })
    return reply.type(format === 'health+json' ? HEALTH_JSON : JSON_TYPE).send(JSON.stringify(body))
  }

  function wantsHealthJson (request: FastifyRequest): boolean {
    const accept = request.headers.accept
    return accept !== undefined && accept.includes(HEALTH_JSON)
  }

  for (const { path, scope, verdict } of routes) {
    fastify.route({
      method: ['GET', 'HEAD'],
      url: `${prefix}/${path}`,
      exposeHeadRoute: false,
      logLevel,
      // Health routes must answer in every state: never gated by the suite.
      readiness: false,
      handler: (request, reply) => answer(request, reply, scope, verdict())
    })
  }

  if (Object.keys(groups).length > 0) {
    fastify.addHook('onReady', async function checkGroups () {
      for (const [group, requires] of Object.entries(groups)) readiness.assertKnown(`health.groups.${group}`, requires)
    })
  }
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

function parseDetails (value: unknown): DetailsPolicy {
  if (value === undefined) return 'never'
  if (value === 'never' || value === 'always' || typeof value === 'function') return value as DetailsPolicy
  throw new ReadinessOptionError('health.details', `must be 'never', 'always' or a function (request) => boolean, got ${describe(value)}`)
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

function parseGroups (value: unknown): Record<string, string[]> {
  if (value === undefined) return {}
  if (!isPlainObject(value)) throw new ReadinessOptionError('health.groups', `must be an object of group name to phase and probe names, got ${describe(value)}`)
  const out: Record<string, string[]> = {}
  for (const [name, requires] of Object.entries(value)) {
    if (!ROUTE_NAME.test(name) || name.length > 64) throw new ReadinessOptionError(`health.groups.${name}`, 'must be a name of letters, digits, "-" and "_" (it becomes a path segment)')
    const list = stringListOption(`health.groups.${name}`, requires)
    if (list.length === 0) throw new ReadinessOptionError(`health.groups.${name}`, 'must name at least one phase or probe')
    out[name] = list
  }
  return out
}

export default fp(healthPlugin, { fastify: '5.x', name: HEALTH_PLUGIN_NAME, dependencies: [PROBES_PLUGIN_NAME] })
