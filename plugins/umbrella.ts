import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync, RouteOptions } from 'fastify'
import type {} from '@fastify/websocket'
import { ReadinessOptionError } from '../lib/common/errors.js'
import { describe, isPlainObject } from '../lib/common/options.js'
import type { PhaseDefinition } from '../lib/startup/phase-options.js'
import type { ProbeDefinition } from '../lib/probes/options.js'
import healthPlugin, { type HealthPluginOptions } from './health.js'
import metricsPlugin, { type MetricsPluginOptions } from './metrics.js'
import statusPagePlugin, { type StatusPageOptions } from './status-page.js'
import pressurePlugin, { type PressureOptions } from './pressure.js'
import probesPlugin from './probes.js'
import { rejectUnknownPluginKeys } from '../lib/core/app.js'
import shutdownPlugin, { type ShutdownPluginOptions } from './shutdown.js'
import startupPlugin, { type StartupPluginOptions } from './startup.js'
import websocketGate, { WEBSOCKET_GATE_PLUGIN_NAME, type WebSocketGateOptions } from './websocket-gate.js'

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
  /** Signals, serving delay and bound of the shutdown sequence (`app.readiness.shutdown()`), or `false` for none. */
  shutdown?: ShutdownPluginOptions | false
  /** OpenTelemetry metrics (on by default: a no-op until an SDK is installed), or `false`. */
  metrics?: MetricsPluginOptions | false
  /** The status page (off by default): `{ details, path }`; shows data only to callers its details policy admits. */
  statusPage?: StatusPageOptions | false
}

export const UMBRELLA_PLUGIN_NAME = 'fastify-readiness'

/** Registers the whole suite: probes, startup phases, the WebSocket gate and the health routes. */
const fastifyReadiness: FastifyPluginAsync<FastifyReadinessOptions> = async (fastify, opts) => {
  rejectUnknownPluginKeys('', opts as Record<string, unknown>, ['probes', 'phases', 'startup', 'websocket', 'health', 'pressure', 'shutdown', 'metrics', 'statusPage'])
  const startup = section('startup', opts.startup) ?? {}
  const websocket = opts.websocket === false ? false : section('websocket', opts.websocket)
  const health = opts.health === false ? false : section('health', opts.health) ?? {}
  const pressure = section('pressure', opts.pressure)
  const shutdown = opts.shutdown === false ? false : section('shutdown', opts.shutdown) ?? {}
  const metricsOptions = opts.metrics === false ? false : section('metrics', opts.metrics) ?? {}
  const statusPage = opts.statusPage === false ? undefined : section('statusPage', opts.statusPage)

  if (metricsOptions !== false) await fastify.register(metricsPlugin, metricsOptions)

  await fastify.register(probesPlugin, opts.probes === undefined ? {} : { probes: opts.probes })
  if (pressure !== undefined) await fastify.register(pressurePlugin, pressure)
  await fastify.register(startupPlugin, opts.phases === undefined ? startup : { ...startup, phases: opts.phases })
  // Registered whether or not @fastify/websocket is there yet: it may come after the suite (the
  // layout in which the drain runs before its preClose), and HTTP routes can be gated without it.
  if (websocket !== false) await fastify.register(websocketGate, websocket ?? {})
  else fastify.addHook('onRoute', refuseRouteOptionsWithoutGate)
  if (health !== false) await fastify.register(healthPlugin, health)
  if (shutdown !== false) await fastify.register(shutdownPlugin, shutdown)
  if (statusPage !== undefined) await fastify.register(statusPagePlugin, statusPage)
}

/** With the gate off, a route's `readiness` options would be silently ignored: `gate: true` would not gate. */
function refuseRouteOptionsWithoutGate (this: FastifyInstance, route: RouteOptions): void {
  if (route.readiness === undefined || route.readiness === false) return
  // The app may register the gate on its own beside an umbrella told not to.
  if (this.hasPlugin(WEBSOCKET_GATE_PLUGIN_NAME)) return
  const methods = Array.isArray(route.method) ? route.method.join(',') : route.method
  throw new ReadinessOptionError(`routes["${methods} ${route.url}"].readiness`, 'has no effect with websocket: false (the gate that reads it is not registered): remove it, or register the suite with the gate')
}

function section<T> (path: string, value: T | undefined): T | undefined {
  if (value === undefined || isPlainObject(value)) return value
  throw new ReadinessOptionError(path, `must be an object${path === 'startup' || path === 'pressure' ? '' : ' or false'}, got ${describe(value)}`)
}

export default fp(fastifyReadiness, { fastify: '5.x', name: UMBRELLA_PLUGIN_NAME })
