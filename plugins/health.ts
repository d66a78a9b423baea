import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, LogLevel } from 'fastify'
import { ReadinessOptionError } from '../lib/errors.js'
import { describe } from '../lib/options.js'
import { PROBES_PLUGIN_NAME } from './probes.js'
import { ensureReadiness, rejectUnknownPluginKeys } from './shared.js'

export type DetailsPolicy = 'never' | 'always' | ((request: FastifyRequest) => boolean)

export interface HealthPluginOptions {
  /** Path prefix of the four routes (default `/health`). */
  prefix?: string
  /** Log level of the health routes (default `warn`, so a probe every second does not flood the log). */
  logLevel?: LogLevel
  /** Who sees phases, probes, latencies and (redacted) errors. Default `never`: status only. */
  details?: DetailsPolicy
}

export const HEALTH_PLUGIN_NAME = 'fastify-readiness-health'

type Verdict = 'pass' | 'warn' | 'fail'

// Anonymous bodies never change shape, so they are serialized once.
const BODY: Record<Verdict, string> = {
  pass: '{"status":"pass"}',
  warn: '{"status":"warn"}',
  fail: '{"status":"fail"}'
}

const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (fastify, opts) => {
  rejectUnknownPluginKeys('health', opts as Record<string, unknown>, ['prefix', 'logLevel', 'details'])
  const prefix = parsePrefix(opts.prefix)
  const details = parseDetails(opts.details)
  const logLevel = opts.logLevel ?? 'warn'
  const readiness = ensureReadiness(fastify)

  const websocketReady = (): boolean => readiness.websocket?.isReadyForConnections() ?? readiness.isReady()

  const routes: Record<string, (request: FastifyRequest, reply: FastifyReply) => FastifyReply> = {
    live: (request, reply) => answer(request, reply, 'pass', () => ({ uptimeSeconds: Math.round(process.uptime()) })),
    startup: (request, reply) => {
      const state = readiness.startupState
      return answer(request, reply, state === 'done' ? 'pass' : 'fail', () => {
        const { startup, phases } = readiness.status()
        return { startup, phases }
      })
    },
    ready: (request, reply) => {
      const ready = readiness.isReady() && websocketReady()
      return answer(request, reply, ready ? (readiness.degraded ? 'warn' : 'pass') : 'fail', () => ({ ...readiness.status(), websocket: readiness.websocket?.getConnectionReadiness() ?? null }))
    },
    websocket: (request, reply) => answer(request, reply, websocketReady() ? 'pass' : 'fail', () => ({
      websocket: readiness.websocket?.getConnectionReadiness() ?? null,
      missing: readiness.missing()
    }))
  }

  function answer (request: FastifyRequest, reply: FastifyReply, verdict: Verdict, detail: () => object): FastifyReply {
    reply.header('cache-control', 'no-store')
    const allowed = details === 'always' || (typeof details === 'function' && details(request))
    if (verdict === 'fail') {
      const retryAfter = readiness.retryAfterSeconds()
      reply.code(503).header('retry-after', String(retryAfter))
      if (!allowed) {
        return reply.type('application/json; charset=utf-8').send(`{"status":"fail","retryAfter":${retryAfter}}`)
      }
      return reply.send({ status: verdict, retryAfter, ...detail() })
    }
    if (!allowed) return reply.type('application/json; charset=utf-8').send(BODY[verdict])
    return reply.send({ status: verdict, ...detail() })
  }

  for (const [name, handler] of Object.entries(routes)) {
    fastify.route({
      method: ['GET', 'HEAD'],
      url: `${prefix}/${name}`,
      exposeHeadRoute: false,
      logLevel,
      // Health routes must answer in every state: never gated by the suite.
      readiness: false,
      handler
    })
  }
}

function parsePrefix (value: unknown): string {
  if (value === undefined) return '/health'
  if (typeof value !== 'string' || !value.startsWith('/') || (value.length > 1 && value.endsWith('/'))) {
    throw new ReadinessOptionError('health.prefix', `must be a path starting with "/" and not ending with one, got ${describe(value)}`)
  }
  return value === '/' ? '' : value
}

function parseDetails (value: unknown): DetailsPolicy {
  if (value === undefined) return 'never'
  if (value === 'never' || value === 'always' || typeof value === 'function') return value as DetailsPolicy
  throw new ReadinessOptionError('health.details', `must be 'never', 'always' or a function (request) => boolean, got ${describe(value)}`)
}

export default fp(healthPlugin, { fastify: '5.x', name: HEALTH_PLUGIN_NAME, dependencies: [PROBES_PLUGIN_NAME] })
