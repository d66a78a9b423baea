import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { ReadinessOptionError } from '../lib/common/errors.js'
import { describe, durationOption } from '../lib/common/options.js'
import type { ConnectionReadiness } from '../lib/core/websocket-view.js'
import type { ReadinessStatus } from '../lib/core/readiness.js'
import { detailsAllowed, parseDetailsPolicy, type DetailsPolicy } from '../lib/health/details-policy.js'
import { PROBES_PLUGIN_NAME } from './probes.js'
import { claimPart, ensureReadiness } from '../lib/core/app.js'
import { option, readOptionTable } from '../lib/common/option-spec.js'
import { STATUS_PAGE_CSP, statusPageHtml } from '../lib/status-page/html.js'

export interface StatusPageOptions {
  /** Path of the page (default `/readiness/status`); its data is served at `<path>.json`. */
  path?: string
  /**
   * Who may see the page: the same policy as the health routes' `details` (default `never`, so
   * enabling the page without a policy shows it to nobody). Everyone else gets a 404.
   */
  details?: DetailsPolicy
  /** How often the open page asks for fresh data, in ms (default 1000, at least 250). */
  refreshIntervalMs?: number
}

/** The page's data: the readiness state, the gate's counters and when each probe first passed. */
export interface StatusPageData {
  now: string
  status: ReadinessStatus
  websocket: ConnectionReadiness | null
  /** ISO time of each probe's first pass (null until then): the marks on the timeline. */
  probeFirstPass: Record<string, string | null>
}

export const STATUS_PAGE_PLUGIN_NAME = 'fastify-readiness-status-page'

/** The status page's options: the allow-list and the defaults come from here. */
export const STATUS_PAGE_OPTIONS = {
  path: option('path of the page (default /readiness/status); its data is served at <path>.json', (_path, v) => parsePath(v)),
  details: option('who may see the page: the health routes\' details policy (default never)', (path, v) => parseDetailsPolicy(path, v)),
  refreshIntervalMs: option('how often the open page asks for fresh data, in ms (default 1000, at least 250)', (path, v) => {
    const ms = durationOption(path, v, 1000)
    if (ms < 250) throw new ReadinessOptionError(path, `must be at least 250 ms (every open page polls at this rate), got ${ms}`)
    return ms
  })
}

/** Keys renamed in 0.3.0 (one unit convention: ...Ms). */
export const STATUS_PAGE_RENAMED = { refreshInterval: 'refreshIntervalMs' }

const statusPagePlugin: FastifyPluginAsync<StatusPageOptions> = async (fastify, opts) => {
  const { path, details: policy, refreshIntervalMs: refreshMs } = readOptionTable('statusPage', opts as Record<string, unknown>, STATUS_PAGE_OPTIONS, { renamed: STATUS_PAGE_RENAMED })
  const readiness = ensureReadiness(fastify)
  claimPart(fastify, 'the status page')

  // A probe's first pass is not kept by the probe itself: note it once, as it happens.
  const firstPass = new Map<string, string>()
  const onProbeChanged = (name: string, status: string): void => {
    if (status === 'pass' && !firstPass.has(name)) firstPass.set(name, new Date().toISOString())
  }
  readiness.on('probeChanged', onProbeChanged)
  fastify.addHook('onClose', function forgetProbes (_instance, hookDone) {
    readiness.off('probeChanged', onProbeChanged)
    hookDone()
  })

  const html = statusPageHtml({ dataUrl: `${path}.json`, refreshMs })

  // Anonymous callers get the same 404 as a path that does not exist.
  async function guard (request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    reply.header('cache-control', 'no-store')
    if (await detailsAllowed(policy, request)) return true
    void reply.callNotFound()
    return false
  }

  const common = { logLevel: 'warn' as const, readiness: false as const, exposeHeadRoute: false }
  // The page itself is a static shell, the same for everyone, with no data in it: a browser cannot send a
  // bearer token on a navigation, so the shell loads and its script sends the token (from #token=...) with
  // each data request. Every byte of state comes from the data route, which the policy guards.
  fastify.get(path, common, async function statusPage (_request, reply) {
    return reply
      .header('cache-control', 'no-store')
      .header('content-security-policy', STATUS_PAGE_CSP)
      .header('referrer-policy', 'no-referrer')
      .header('x-content-type-options', 'nosniff')
      .type('text/html; charset=utf-8')
      .send(html)
  })
  fastify.get(`${path}.json`, common, async function statusPageData (request, reply) {
    if (!await guard(request, reply)) return reply
    const status = readiness.status()
    const data: StatusPageData = {
      now: new Date().toISOString(),
      status,
      websocket: readiness.websocket?.getConnectionReadiness() ?? null,
      probeFirstPass: Object.fromEntries(Object.keys(status.probes).map((name) => [name, firstPass.get(name) ?? null]))
    }
    return reply.type('application/json; charset=utf-8').send(JSON.stringify(data))
  })
}

function parsePath (value: unknown): string {
  if (value === undefined) return '/readiness/status'
  if (typeof value !== 'string' || !/^\/[A-Za-z0-9._~\-/]*[A-Za-z0-9_~-]$/.test(value) || value.includes('//')) {
    throw new ReadinessOptionError('statusPage.path', `must be a path like "/readiness/status" (starting with "/", not ending with "/" or "."), got ${describe(value)}`)
  }
  return value
}

export default fp(statusPagePlugin, { fastify: '5.x', name: STATUS_PAGE_PLUGIN_NAME, dependencies: [PROBES_PLUGIN_NAME] })
