import type { Attributes, BatchObservableCallback, Meter } from '@opentelemetry/api'
import type { ProbeStatus } from '../probes/probe.js'
import type { GateRefusal, Readiness } from '../core/readiness.js'

/** The namespace of every instrument (Prometheus shows it as `fastify_readiness_...`). */
export const METRIC_PREFIX = 'fastify_readiness'

/** Attribute keys. `http.route` is OpenTelemetry's own key for a route template; the rest are ours. */
export const ATTR = {
  route: 'http.route',
  phase: 'fastify_readiness.phase',
  probe: 'fastify_readiness.probe',
  outcome: 'fastify_readiness.outcome',
  probeStatus: 'fastify_readiness.probe.status',
  startupState: 'fastify_readiness.startup.state',
  reason: 'fastify_readiness.gate.reason',
  held: 'fastify_readiness.gate.held',
  connectionState: 'fastify_readiness.connection.state',
  closeCode: 'fastify_readiness.close.code'
} as const

// Startup and phases take from milliseconds to minutes; holds are bounded by 5 s.
const STARTUP_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
const HOLD_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
// Probe runs take from under a millisecond to their timeout (default 5 s, at most minutes).
const PROBE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const PROBE_STATUSES: readonly ProbeStatus[] = ['unknown', 'pass', 'fail']
const STARTUP_STATES = ['pending', 'running', 'done', 'failed'] as const

/**
 * Attribute values are snake_case, as OpenTelemetry's own enums are: the gate's
 * refusal reasons (`not-ready` in the API) are written `not_ready` here, like
 * the transitions' outcome.
 */
export function enumValue (value: string): string {
  return value.replaceAll('-', '_')
}

/**
 * Feeds OpenTelemetry instruments from the readiness state. Counters and
 * histograms follow the readiness events (which happen per upgrade at most,
 * and cost one listener call); gauges are observable, so the state is read
 * only when the SDK collects, never per request. Returns the undo function.
 */
export function bindReadinessMetrics<App> (readiness: Readiness<App>, meter: Meter): () => void {
  const p = METRIC_PREFIX
  const startupDuration = meter.createHistogram(`${p}.startup.duration`, {
    description: 'Duration of startup, from the first phase to the last (or to the failure).',
    unit: 's',
    advice: { explicitBucketBoundaries: STARTUP_BUCKETS }
  })
  const phaseDuration = meter.createHistogram(`${p}.phase.duration`, {
    description: 'Duration of each startup phase, including its wait for probes.',
    unit: 's',
    advice: { explicitBucketBoundaries: STARTUP_BUCKETS }
  })
  const probeTransitions = meter.createCounter(`${p}.probe.transitions`, {
    description: 'Status changes of each probe (a flapping dependency shows here).',
    unit: '{transition}'
  })
  const readyTransitions = meter.createCounter(`${p}.transitions`, {
    description: 'Changes of the instance readiness: to ready, and to not ready.',
    unit: '{transition}'
  })
  const admitted = meter.createCounter(`${p}.gate.admitted`, {
    description: 'Upgrades (and gated requests) the gate let through, held first or not.',
    unit: '{request}'
  })
  const holdDuration = meter.createHistogram(`${p}.gate.hold.duration`, {
    description: 'How long an upgrade was held before it was admitted.',
    unit: 's',
    advice: { explicitBucketBoundaries: HOLD_BUCKETS }
  })
  const refused = meter.createCounter(`${p}.gate.refused`, {
    description: 'Upgrades (and gated requests) the gate refused before any handler ran, by reason.',
    unit: '{request}'
  })
  const closedOnLoss = meter.createCounter(`${p}.gate.closed_on_loss`, {
    description: 'Open sockets closed with 1013 because a requirement was lost after ready.',
    unit: '{connection}'
  })
  const drained = meter.createCounter(`${p}.websocket.drained`, {
    description: 'Sockets closed by the shutdown drain, by close code and by whether they answered (closed) or were cut (terminated).',
    unit: '{connection}'
  })

  const ready = meter.createObservableGauge(`${p}.ready`, { description: '1 when the instance is ready, else 0.', unit: '1' })
  const draining = meter.createObservableGauge(`${p}.draining`, { description: '1 from the start of the shutdown sequence, else 0.', unit: '1' })
  const startupState = meter.createObservableGauge(`${p}.startup.state`, { description: '1 for the current startup state, 0 for the others.', unit: '1' })
  const probeStatus = meter.createObservableGauge(`${p}.probe.status`, { description: '1 for the current status of each probe, 0 for the others.', unit: '1' })
  // The readiness state has no per-run event: the collection records the last
  // run of each probe that ran since the previous collection (a sample of the runs).
  const probeDuration = meter.createHistogram(`${p}.probe.duration`, {
    description: 'Duration of probe runs: the last finished run of each probe that ran since the previous collection.',
    unit: 's',
    advice: { explicitBucketBoundaries: PROBE_BUCKETS }
  })
  const connections = meter.createObservableUpDownCounter(`${p}.websocket.connection.count`, {
    description: 'WebSocket connections per gated route: open, or held by the gate.',
    unit: '{connection}'
  })
  const holds = meter.createObservableCounter(`${p}.gate.holds`, { description: 'Upgrades the gate has held, whatever came of them.', unit: '{request}' })

  // Attribute objects are kept per key: the event path allocates nothing after the first time.
  const memo = new Map<string, Attributes>()
  const attrs = (key: string, make: () => Attributes): Attributes => {
    let value = memo.get(key)
    if (value === undefined) { value = make(); memo.set(key, value) }
    return value
  }

  const phaseStarts = new Map<string, number>()
  const onPhaseStarted = (name: string): void => { phaseStarts.set(name, performance.now()) }
  const onPhaseFinished = (name: string, durationMs: number): void => {
    phaseStarts.delete(name)
    phaseDuration.record(durationMs / 1000, { [ATTR.phase]: name, [ATTR.outcome]: 'done' })
  }
  const onPhaseFailed = (name: string): void => {
    const started = phaseStarts.get(name)
    phaseStarts.delete(name)
    if (started !== undefined) phaseDuration.record((performance.now() - started) / 1000, { [ATTR.phase]: name, [ATTR.outcome]: 'failed' })
  }
  const onProbeChanged = (name: string, status: ProbeStatus): void => {
    probeTransitions.add(1, attrs(`p:${name}:${status}`, () => ({ [ATTR.probe]: name, [ATTR.probeStatus]: status })))
  }
  const onReady = (): void => { readyTransitions.add(1, attrs('ready', () => ({ [ATTR.outcome]: 'ready' }))) }
  const onNotReady = (): void => { readyTransitions.add(1, attrs('not-ready', () => ({ [ATTR.outcome]: 'not_ready' }))) }
  const onAdmitted = (route: string, heldMs: number): void => {
    const wasHeld = heldMs > 0
    admitted.add(1, attrs(`a:${route}:${wasHeld ? 1 : 0}`, () => ({ [ATTR.route]: route, [ATTR.held]: wasHeld })))
    if (wasHeld) holdDuration.record(heldMs / 1000, attrs(`h:${route}`, () => ({ [ATTR.route]: route })))
  }
  const onRefused = (route: string, reason: GateRefusal): void => {
    refused.add(1, attrs(`r:${route}:${reason}`, () => ({ [ATTR.route]: route, [ATTR.reason]: enumValue(reason) })))
  }
  const onClosedOnLoss = (route: string, count: number): void => {
    closedOnLoss.add(count, attrs(`l:${route}`, () => ({ [ATTR.route]: route })))
  }
  const onDrained = (code: number, closedCount: number, terminated: number): void => {
    if (closedCount > 0) drained.add(closedCount, { [ATTR.closeCode]: code, [ATTR.outcome]: 'closed' })
    if (terminated > 0) drained.add(terminated, { [ATTR.closeCode]: code, [ATTR.outcome]: 'terminated' })
  }

  // Startup's end is not an event of its own: watch the state change (rare, O(1) to read).
  let startupRecorded = false
  const unsubscribe = readiness.onChange(() => {
    if (startupRecorded) return
    const state = readiness.startupState
    if (state !== 'done' && state !== 'failed') return
    startupRecorded = true
    const durationMs = readiness.status().startup.durationMs
    if (durationMs !== null) startupDuration.record(durationMs / 1000, { [ATTR.outcome]: state })
  })

  readiness.on('phaseStarted', onPhaseStarted)
  readiness.on('phaseFinished', onPhaseFinished)
  readiness.on('phaseFailed', onPhaseFailed)
  readiness.on('probeChanged', onProbeChanged)
  readiness.on('ready', onReady)
  readiness.on('notReady', onNotReady)
  readiness.on('gateAdmitted', onAdmitted)
  readiness.on('gateRefused', onRefused)
  readiness.on('gateClosedOnLoss', onClosedOnLoss)
  readiness.on('socketsDrained', onDrained)

  const runsSeen = new Map<string, number>()
  // One read of the state per collection, shared by every gauge.
  const observe: BatchObservableCallback = (obs) => {
    const status = readiness.status()
    obs.observe(ready, status.ready ? 1 : 0)
    obs.observe(draining, status.draining ? 1 : 0)
    for (const state of STARTUP_STATES) obs.observe(startupState, status.startup.state === state ? 1 : 0, attrs(`s:${state}`, () => ({ [ATTR.startupState]: state })))
    for (const [name, probe] of Object.entries(status.probes)) {
      for (const s of PROBE_STATUSES) obs.observe(probeStatus, probe.status === s ? 1 : 0, attrs(`p:${name}:${s}`, () => ({ [ATTR.probe]: name, [ATTR.probeStatus]: s })))
      if (probe.latencyMs !== null && probe.runs !== runsSeen.get(name)) {
        runsSeen.set(name, probe.runs)
        probeDuration.record(probe.latencyMs / 1000, attrs(`pl:${name}`, () => ({ [ATTR.probe]: name })))
      }
    }
    const ws = readiness.websocket?.getConnectionReadiness()
    if (ws !== undefined) {
      for (const [route, r] of Object.entries(ws.routes)) {
        obs.observe(connections, r.open, attrs(`co:${route}`, () => ({ [ATTR.route]: route, [ATTR.connectionState]: 'open' })))
        obs.observe(connections, r.held, attrs(`ch:${route}`, () => ({ [ATTR.route]: route, [ATTR.connectionState]: 'held' })))
        obs.observe(holds, r.heldTotal, attrs(`h:${route}`, () => ({ [ATTR.route]: route })))
      }
    }
  }
  const observables = [ready, draining, startupState, probeStatus, connections, holds]
  meter.addBatchObservableCallback(observe, observables)

  return () => {
    unsubscribe()
    meter.removeBatchObservableCallback(observe, observables)
    readiness.off('phaseStarted', onPhaseStarted)
    readiness.off('phaseFinished', onPhaseFinished)
    readiness.off('phaseFailed', onPhaseFailed)
    readiness.off('probeChanged', onProbeChanged)
    readiness.off('ready', onReady)
    readiness.off('notReady', onNotReady)
    readiness.off('gateAdmitted', onAdmitted)
    readiness.off('gateRefused', onRefused)
    readiness.off('gateClosedOnLoss', onClosedOnLoss)
    readiness.off('socketsDrained', onDrained)
  }
}
