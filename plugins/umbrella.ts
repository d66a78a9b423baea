import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync, RouteOptions } from 'fastify'
import type {} from '@fastify/websocket'
import { ReadinessOptionError } from '../lib/errors.js'
import { describe, isPlainObject } from '../lib/options.js'
import type { PhaseDefinition } from '../lib/phase-options.js'
import type { ProbeDefinition } from '../lib/probe-options.js'
import healthPlugin, { type HealthPluginOptions } from './health.js'
import metricsPlugin, { type MetricsPluginOptions } from './metrics.js'
import statusPagePlugin, { type StatusPageOptions } from './status-page.js'
import pressurePlugin, { type PressureOptions } from './pressure.js'
import probesPlugin from './probes.js'
import { rejectUnknownPluginKeys } from './shared.js'
import startupPlugin, { type StartupPluginOptions } from './startup.js'
import websocketGate, { type WebSocketGateOptions } from './websocket-gate.js'

export interface FastifyReadinessOptions {
  probes?: Record<string, ProbeDefinition>
  phases?: Record<string, PhaseDefinition<FastifyInstance>>
  startup?: Omit<StartupPluginOptions, 'phases'>
  /** Options of the WebSocket gate, or `false` to leave WebSocket routes ungated. */
  websocket?: WebSocketGateOptions | false
  /** Options of the health routes, or `false` to register none. */
  health?: HealthPluginOptions | false
  /** Event-loop and memory thresholds (through @fastify/under-pressure) that make readiness fail or warn. */
  pressure?: PressureOptions
  /** OpenTelemetry metrics (on by default: a no-op until an SDK is installed), or `false`. */
  metrics?: MetricsPluginOptions | false
  /** The status page (off by default): `{ details, path }`; shows data only to callers its details policy admits. */
  statusPage?: StatusPageOptions | false
}

export const UMBRELLA_PLUGIN_NAME = 'fastify-readiness'

/** Registers the whole suite: probes, startup phases, the WebSocket gate and the health routes. */
const fastifyReadiness: FastifyPluginAsync<FastifyReadinessOptions> = async (fastify, opts) => {
  rejectUnknownPluginKeys('', opts as Record<string, unknown>, ['probes', 'phases', 'startup', 'websocket', 'health', 'pressure', 'metrics', 'statusPage'])
  const startup = section('startup', opts.startup) ?? {}
  const websocket = opts.websocket === false ? false : section('websocket', opts.websocket)
  const health = opts.health === false ? false : section('health', opts.health) ?? {}
  const pressure = section('pressure', opts.pressure)
  const metricsOptions = opts.metrics === false ? false : section('metrics', opts.metrics) ?? {}
  const statusPage = opts.statusPage === false ? undefined : section('statusPage', opts.statusPage)

  if (metricsOptions !== false) await fastify.register(metricsPlugin, metricsOptions)

  await fastify.register(probesPlugin, opts.probes === undefined ? {} : { probes: opts.probes })
  if (pressure !== undefined) await fastify.register(pressurePlugin, pressure)
  await fastify.register(startupPlugin, opts.phases === undefined ? startup : { ...startup, phases: opts.phases })
  if (websocket !== false) {
    if (fastify.hasPlugin('@fastify/websocket')) {
      await fastify.register(websocketGate, websocket ?? {})
    } else if (websocket !== undefined) {
      throw new ReadinessOptionError('websocket', 'is set, but @fastify/websocket is not registered: register it before fastify-readiness (or pass websocket: false)')
    } else {
      refuseLateWebSocket(fastify)
    }
  }
  if (health !== false) await fastify.register(healthPlugin, health)
  if (statusPage !== undefined) await fastify.register(statusPagePlugin, statusPage)
}

/**
 * Without @fastify/websocket at registration time there is nothing to gate.
 * If it turns up later (registered after this plugin), WebSocket routes would
 * silently go ungated: make that the clear error it is.
 */
function refuseLateWebSocket (fastify: FastifyInstance): void {
  fastify.addHook('onRoute', (route: RouteOptions) => {
    if ((route.websocket === true || route.wsHandler !== undefined) && route.readiness !== false) {
      throw new ReadinessOptionError('websocket',
        `cannot gate WebSocket route ${route.url}: @fastify/websocket was registered after fastify-readiness. ` +
        'Register @fastify/websocket first, or mark the route { readiness: false }.')
    }
  })
}

function section<T> (path: string, value: T | undefined): T | undefined {
  if (value === undefined || isPlainObject(value)) return value
  throw new ReadinessOptionError(path, `must be an object${path === 'startup' || path === 'pressure' ? '' : ' or false'}, got ${describe(value)}`)
}

export default fp(fastifyReadiness, { fastify: '5.x', name: UMBRELLA_PLUGIN_NAME })
