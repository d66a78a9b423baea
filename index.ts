import fastifyReadiness from './plugins/umbrella.js'

export default fastifyReadiness
export { fastifyReadiness }
export type { FastifyReadinessOptions } from './plugins/umbrella.js'
export { default as readinessProbes, type ProbesPluginOptions } from './plugins/probes.js'
export { default as readinessStartup, type StartupPluginOptions } from './plugins/startup.js'
export { default as readinessWebSocketGate, type WebSocketGateOptions } from './plugins/websocket-gate.js'
export { default as readinessPressure, type PressureOptions } from './plugins/pressure.js'
export { default as readinessHealth, type HealthPluginOptions, type DetailsPolicy } from './plugins/health.js'
export type { AppReadiness, RouteReadinessOptions } from './plugins/shared.js'
export { Readiness, type ReadinessStatus, type ReadinessEvents, type StartupMode, type ReadinessLogger } from './lib/readiness.js'
export type { ProbeCheck, ProbeStatus, ProbeSnapshot } from './lib/probe.js'
export type { ProbeDefinition, ProbeObjectDefinition } from './lib/probe-options.js'
export type { PhaseDefinition, PhaseObjectDefinition, PhaseRun } from './lib/phase-options.js'
export type { PhaseSnapshot, PhaseState, StartupState } from './lib/startup.js'
export type { GateMode, WebSocketReadiness, ConnectionReadiness, RouteReadiness } from './lib/route-gate.js'
export { ReadinessOptionError, ProbeTimeoutError, PhaseError, WaitTimeoutError } from './lib/errors.js'
export { postgresProbe, redisProbe, httpProbe, tcpProbe, type PostgresProbeOptions, type RedisProbeOptions, type PingableClient, type HttpProbeOptions, type TcpProbeOptions, type ClosableCheck } from './lib/probes/index.js'
