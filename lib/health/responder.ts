import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ReadinessApi } from '../core/api.js'
import { detailsAllowed, type DetailsPolicy } from './details-policy.js'
import { buildBody, type BodyInput, type Verdict } from './format.js'
import { negotiate } from './negotiate.js'
import type { HealthSettings } from './options.js'

const HEALTH_JSON = 'application/health+json'
const JSON_TYPE = 'application/json; charset=utf-8'

type Scope = BodyInput['scope']

/** One health route: where it is served, what it judges, who sees its details. */
export interface HealthRoute {
  paths: string[]
  scope: Scope
  verdict: () => Verdict
  details: DetailsPolicy
  group?: BodyInput['group'] | (() => BodyInput['group'])
}

/** The suite's view the health routes read (plus the IETF componentType of a probe). */
export type HealthReadiness = Pick<ReadinessApi, 'isLive' | 'isReady' | 'startupState' | 'degraded' | 'websocket' | 'retryAfterSeconds' | 'status'> & {
  groupMissing: (include: readonly string[] | undefined, exclude: readonly string[]) => string[]
  componentType: (name: string) => string | undefined
}

/** The built-in routes (live, startup, ready, websocket) and one per group, from the settings. */
export function healthRoutes (readiness: HealthReadiness, settings: HealthSettings): HealthRoute[] {
  const { prefix, details, additionalPaths: extra, groups } = settings
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
  return routes
}

/** Answers a health request: status code, headers and a body whose detail the caller's policy allows. */
export function healthResponder (readiness: HealthReadiness, settings: HealthSettings): (request: FastifyRequest, reply: FastifyReply, route: HealthRoute) => FastifyReply | Promise<FastifyReply> {
  const { exposeNames: names, format: defaultFormat, info, cors: allowOrigin } = settings
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

  // Synchronous unless the policy is a function: a probe hitting /health/ready every second should not pay
  // for a promise it does not need.
  return function answer (request, reply, route) {
    if (typeof route.details !== 'function') return respond(request, reply, route, route.details === 'always')
    // Never rejects: a throwing, hanging or async policy just means "not allowed".
    return detailsAllowed(route.details, request).then((allowed) => respond(request, reply, route, allowed))
  }
}
