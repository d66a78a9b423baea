import type { ReadinessStatus } from '../core/readiness.js'
import type { ConnectionReadiness } from '../gate/route-gate.js'

/**
 * Builds health response bodies from the readiness snapshot. Pure: no HTTP.
 * Two formats: the suite's JSON, and the IETF draft "Health Check Response
 * Format for HTTP APIs" (application/health+json), whose checks are keyed
 * `component:measurement`.
 */

export type Verdict = 'pass' | 'warn' | 'fail'
export type HealthFormat = 'json' | 'health+json'

/** Who is answering: from the health plugin's `info` option. */
export interface HealthInfo {
  version?: string
  /** The commit (or release) the instance runs: health+json's `releaseId`. */
  commit?: string
  instanceId?: string
}

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
  /** Info fields, shown with details or names. */
  info?: HealthInfo
  /** A group's view: only these phases and probes are reported, and these are its unmet names. */
  group?: { includes: (name: string) => boolean, missing: string[] }
}

export function buildBody (format: HealthFormat, input: BodyInput): object {
  return format === 'health+json' ? healthJson(input) : suiteJson(input)
}

function groupView (input: BodyInput): () => ReturnType<BodyInput['status']> {
  const group = input.group
  if (group === undefined) return input.status
  return () => {
    const status = input.status()
    const phases = Object.fromEntries(Object.entries(status.phases).filter(([name]) => group.includes(name)))
    const probes = Object.fromEntries(Object.entries(status.probes).filter(([name]) => group.includes(name)))
    return { ...status, phases, probes, missing: group.missing }
  }
}

function suiteJson (input: BodyInput): object {
  const base: Record<string, unknown> = { status: input.verdict }
  if (input.retryAfter !== null) base.retryAfter = input.retryAfter
  if (input.info !== undefined && (input.details || input.names)) base.info = input.info
  if (input.scope === 'live') return input.details ? { ...base, uptimeSeconds: Math.round(process.uptime()) } : base
  input = { ...input, status: groupView(input) }
  if (input.details) {
    const status = input.status()
    if (input.scope === 'startup') return { ...base, startup: status.startup, phases: status.phases }
    if (input.scope === 'websocket') return { ...base, websocket: input.websocket(), missing: status.missing }
    // The route's verdict wins over the snapshot's overall one: a group that excludes a failing
    // check answers 200, and its body must say `pass` and `ready: true` with it, not the app's `fail`.
    return { ...base, ...status, status: input.verdict, ready: input.verdict !== 'fail', websocket: input.websocket() }
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
  observedValue?: unknown
  observedUnit?: string
  status: Verdict
  time?: string
  output?: string
}

function healthJson (input: BodyInput): object {
  const out: Record<string, unknown> = { status: input.verdict }
  if (input.scope === 'live' || (!input.details && !input.names)) return out
  if (input.info !== undefined) {
    if (input.info.version !== undefined) out.version = input.info.version
    if (input.info.commit !== undefined) out.releaseId = input.info.commit
    if (input.info.instanceId !== undefined) out.instanceId = input.info.instanceId
  }
  const status = groupView(input)()
  const checks: Record<string, CheckEntry[]> = {}
  if (input.scope === 'all') {
    for (const [name, p] of Object.entries(status.probes)) {
      const state = p.status as string
      const verdict: Verdict = state === 'pass' ? 'pass' : state === 'warn' || !p.critical ? 'warn' : 'fail'
      const componentType = input.componentTypes(name) ?? 'component'
      const entry: CheckEntry = { componentType, status: verdict }
      if (input.details) {
        if (p.latencyMs !== null) { entry.observedValue = p.latencyMs; entry.observedUnit = 'ms' }
        if (p.lastCheckAt !== null) entry.time = p.lastCheckAt
        if (verdict !== 'pass' && p.lastError !== null) entry.output = p.lastError.message
      }
      checks[`${name}:responseTime`] = [entry]
      // A check that reports what it measured gets its own entry (IETF observedValue/observedUnit).
      const observed = p as { observedValue?: unknown, observedUnit?: unknown }
      if (input.details && observed.observedValue !== undefined) {
        const value: CheckEntry = { componentType, status: verdict, observedValue: observed.observedValue }
        if (typeof observed.observedUnit === 'string') value.observedUnit = observed.observedUnit
        if (p.lastCheckAt !== null) value.time = p.lastCheckAt
        checks[`${name}:value`] = [value]
      }
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
