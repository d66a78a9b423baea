// The public entry. Value exports are the plugins, the built-in probes, the delivery helpers and the
// errors apps catch by class; every error also carries a `code` (FST_READINESS_*), which is how the
// others (ProbeTimeoutError, ShutdownTimeoutError, ReadinessRegistrationError) are told apart. The
// readiness state itself is reached as `app.readiness`, typed `ReadinessApi`: its class is not exported.
import fastifyReadiness from './plugins/umbrella.js'

export default fastifyReadiness
export { fastifyReadiness }
export type { FastifyReadinessOptions } from './plugins/umbrella.js'
export { default as readinessProbes, type ProbesPluginOptions } from './plugins/probes.js'
export { default as readinessStartup, type StartupPluginOptions } from './plugins/startup.js'
export { default as readinessWebSocketGate, type WebSocketGateOptions } from './plugins/websocket-gate.js'
export { default as readinessPressure, type PressureOptions } from './plugins/pressure.js'
export { default as readinessHealth, type HealthPluginOptions, type HealthGroupOptions, type DetailsPolicy } from './plugins/health.js'
export { default as readinessShutdown, type ShutdownPluginOptions } from './plugins/shutdown.js'
export { default as readinessMetrics, type MetricsPluginOptions } from './plugins/metrics.js'
export { default as readinessStatusPage, type StatusPageOptions, type StatusPageData } from './plugins/status-page.js'
export type { RouteReadinessOptions } from './lib/core/app.js'
export type { ReadinessApi, ReadinessStatus, ReadinessEvents, GateRefusal } from './lib/core/api.js'
export type { ProbeCheck, ProbeStatus, ProbeSnapshot, ProbeResult } from './lib/probes/probe.js'
export type { ProbeDefinition, ProbeObjectDefinition } from './lib/probes/options.js'
export type { PhaseDefinition, PhaseObjectDefinition, PhaseRun } from './lib/startup/phase-options.js'
export type { PhaseSnapshot, PhaseState, StartupState } from './lib/startup/runner.js'
export type { GateMode, WebSocketReadiness, ConnectionReadiness, RouteReadiness } from './lib/core/websocket-view.js'
export type { HealthInfo } from './lib/health/format.js'
export { ReadinessOptionError, PhaseError, WaitTimeoutError } from './lib/common/errors.js'
export { postgresProbe, redisProbe, httpProbe, tcpProbe, type PostgresProbeOptions, type RedisProbeOptions, type PingableClient, type HttpProbeOptions, type TcpProbeOptions, type ClosableCheck } from './lib/probes/builtin/index.js'
export { withDelivery, deliveryIdle, DeliveryTimeoutError, DeliveryFrameError, memoryDedupe, redisDedupe, type ClaimResult, type DeliveryHandler, type DeliveryContext, type DeliveryOptions, type DeliveryStats, type DeliverySocket, type DedupeStore, type MemoryDedupeOptions, type RedisDedupeOptions, type RedisLike } from './lib/delivery/index.js'
export { bearerToken } from './lib/health/details-policy.js'
