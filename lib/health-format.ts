import type { ReadinessStatus } from './readiness.js'
import type { ConnectionReadiness } from './route-gate.js'

/**
 * Builds health response bodies from the readiness snapshot. Pure: no HTTP.
 * Two formats: the suite's JSON, and the IETF draft "Health Check Response
 * Format for HTTP APIs" (application/health+json), whose checks are keyed
 * `component:measurement`.
 */

export type Verdict = 'pass' | 'warn' | 'fail'
export type HealthFormat = 'json' | 'health+json'

export interface BodyInput {
  verdict: Verdict
  retryAfter: number | null
  /** Full details allowed (latencies, redacted errors, phases). */
  details: boolean
  /** Anonymous callers may see check names and statuses. */
  names: boolean
  status: () => ReadinessStatus
  websocket: () => ConnectionReadiness | null
  /** Which parts the route reports on: all, startup only, WebSocket only. */
  scope: 'all' | 'startup' | 'websocket' | 'live'
  /** Probe names that are component types other than "component". */
  componentTypes: (probe: string) => string | undefined
}

export function buildBody (format: HealthFormat, input: BodyInput): object {
  return format === 'health+json' ? healthJson(input) : suiteJson(input)
}

function suiteJson (input: BodyInput): object {
  const base: Record<string, unknown> = { status: input.verdict }
  if (input.retryAfter !== null) base.retryAfter = input.retryAfter
  if (input.scope === 'live') return input.details ? { ...base, uptimeSeconds: Math.round(process.uptime()) } : base
  if (input.details) {
    const status = input.status()
    if (input.scope === 'startup') return { ...base, startup: status.startup, phases: status.phases }
    if (input.scope === 'websocket') return { ...base, websocket: input.websocket(), missing: status.missing }
    return { ...base, ...status, websocket: input.websocket() }
  }
  if (input.names) {
    const status = input.status()
    const checks: Record<string, string> = {}
    if (input.scope !== 'websocket') for (const [name, p] of Object.entries(status.phases)) checks[name] = p.state
    if (input.scope === 'all') for (const [name, p] of Object.entries(status.probes)) checks[name] = p.status
    if (input.scope === 'websocket') for (const [route, r] of Object.entries(input.websocket()?.routes ?? {})) checks[route] = r.ready ? 'pass' : 'fail'
    return { ...base, checks }
  }
  return base
}

interface CheckEntry {
  componentType?: string
  observedValue?: number | string
  observedUnit?: string
  status: Verdict
  time?: string
  output?: string
}

function healthJson (input: BodyInput): object {
  const out: Record<string, unknown> = { status: input.verdict }
  if (input.scope === 'live' || (!input.details && !input.names)) return out
  const status = input.status()
  const checks: Record<string, CheckEntry[]> = {}
  if (input.scope === 'all') {
    for (const [name, p] of Object.entries(status.probes)) {
      const verdict: Verdict = p.status === 'pass' ? 'pass' : p.critical ? 'fail' : 'warn'
      const entry: CheckEntry = { componentType: input.componentTypes(name) ?? 'component', status: verdict }
      if (input.details) {
        if (p.latencyMs !== null) { entry.observedValue = p.latencyMs; entry.observedUnit = 'ms' }
        if (p.lastCheckAt !== null) entry.time = p.lastCheckAt
        if (verdict !== 'pass' && p.lastError !== null) entry.output = p.lastError.message
      }
      checks[`${name}:responseTime`] = [entry]
    }
  }
  if (input.scope !== 'websocket') {
    for (const [name, p] of Object.entries(status.phases)) {
      const entry: CheckEntry = { componentType: 'startup', status: p.state === 'done' ? 'pass' : 'fail' }
      if (input.details) {
        if (p.durationMs !== null) { entry.observedValue = p.durationMs; entry.observedUnit = 'ms' }
        if (p.finishedAt !== null) entry.time = p.finishedAt
        if (p.error !== null) entry.output = p.error.message
      }
      checks[`${name}:duration`] = [entry]
    }
  }
  if (input.scope !== 'startup') {
    const ws = input.websocket()
    for (const [route, r] of Object.entries(ws?.routes ?? {})) {
      const entry: CheckEntry = { componentType: 'websocket', status: r.ready ? 'pass' : 'fail' }
      if (input.details) { entry.observedValue = r.open; entry.observedUnit = 'connections' }
      checks[`websocket ${route}:connections`] = [entry]
    }
  }
  out.checks = checks
  if (input.details) out.output = status.missing.length > 0 ? `not ready: ${status.missing.join(', ')}` : undefined
  return out
}
