import { ReadinessOptionError } from '../common/errors.js'
import { durationOption, functionOption, isPlainObject, describe, nameOption, readOptions, stringListOption } from '../common/options.js'
import { option, readOptionTable } from '../common/option-spec.js'

/** A phase's work. `app` is whatever the host passes (the Fastify instance in the plugin). */
export type PhaseRun<App = unknown> = (app: App, signal: AbortSignal) => unknown

/** What users write: a bare run function, or an object. */
export type PhaseDefinition<App = unknown> = PhaseRun<App> | PhaseObjectDefinition<App>

export interface PhaseObjectDefinition<App = unknown> {
  /** Phases that must be done before this one starts. */
  after?: string[]
  /** Probes that must pass before `run` is called (the phase is done when they pass, if it has no `run`). */
  probes?: string[]
  run?: PhaseRun<App>
  /** Bound on the whole phase, waiting on probes included, in ms (default 30000). */
  timeoutMs?: number
  /**
   * What the phase usually takes, in ms: a hint for the Retry-After estimate while startup
   * runs (never a bound; `timeoutMs` is). Without it the estimate learns from finished phases.
   */
  expectedMs?: number
}

export interface PhaseConfig<App = unknown> {
  name: string
  after: string[]
  probes: string[]
  run: PhaseRun<App> | undefined
  timeout: number
  /** What the phase usually takes, in ms, when the app says so. */
  expected?: number
}

export const PHASE_DEFAULT_TIMEOUT = 30_000

/** One phase's options: the allow-list and the defaults come from here. */
export const PHASE_OPTIONS = {
  after: option('phases that must be done before this one starts', stringListOption),
  probes: option('probes that must pass before `run` is called', stringListOption),
  run: option('the work: `async (app, signal) => {}`', (path, v) => functionOption<PhaseRun>(path, v, false)),
  timeoutMs: option('bound on the whole phase, waiting on probes included, in ms (default 30000)', (path, v) => durationOption(path, v, PHASE_DEFAULT_TIMEOUT)),
  expectedMs: option('what the phase usually takes, in ms: a hint for Retry-After, never a bound', (path, v) => v === undefined ? undefined : durationOption(path, v, 0))
}

/** Keys renamed in 0.3.0 (one unit convention: ...Ms). */
export const PHASE_RENAMED = { timeout: 'timeoutMs', expected: 'expectedMs' }

/**
 * `section` is where the phases sit (`phases`). The name is checked first, with
 * the rule probe names follow: it becomes a JSON key (`__proto__` would vanish
 * from every snapshot), a log field, a metric label and part of error paths.
 */
export function parsePhase<App> (section: string, name: string, value: unknown): PhaseConfig<App> {
  nameOption(section, name)
  const path = `${section}.${name}`
  if (typeof value === 'function') {
    return { name, after: [], probes: [], run: value as PhaseRun<App>, timeout: PHASE_DEFAULT_TIMEOUT }
  }
  if (!isPlainObject(value)) {
    throw new ReadinessOptionError(path, `must be a run function or an object ({ after, probes, run, timeoutMs, expectedMs }), got ${describe(value)}`)
  }
  // Read once: every getter runs here, and one that throws is named by its path.
  const o = readOptionTable(path, readOptions(path, value), PHASE_OPTIONS, { plugin: false, renamed: PHASE_RENAMED })
  // The runner keeps its own field names (timeout, expected).
  const config: PhaseConfig<App> = { name, after: o.after, probes: o.probes, run: o.run as PhaseRun<App> | undefined, timeout: o.timeoutMs }
  if (o.expectedMs !== undefined) {
    if (o.expectedMs > config.timeout) throw new ReadinessOptionError(`${path}.expectedMs`, `is ${o.expectedMs} ms, above the phase's timeoutMs of ${config.timeout} ms: the phase would always time out first`)
    config.expected = o.expectedMs
  }
  if (config.after.includes(name)) throw new ReadinessOptionError(`${path}.after`, `names the phase itself ("${name}")`)
  if (config.run === undefined && config.probes.length === 0 && config.after.length === 0) {
    throw new ReadinessOptionError(path, 'has nothing to do: give it a "run" function, "probes" to wait for, or "after" phases')
  }
  return config
}

/**
 * Checks the references and the shape of the whole graph: every `after` names a
 * phase, every `probes` entry a probe, and there is no cycle (the error spells
 * the cycle out).
 */
export function validatePhaseGraph (phases: ReadonlyMap<string, PhaseConfig<unknown>>, probeNames: ReadonlySet<string>, path = 'phases'): void {
  for (const phase of phases.values()) {
    for (const dep of phase.after) {
      if (!phases.has(dep)) throw new ReadinessOptionError(`${path}.${phase.name}.after`, `names unknown phase "${dep}" (known phases: ${listOrNone(phases.keys())})`)
    }
    for (const probe of phase.probes) {
      if (!probeNames.has(probe)) throw new ReadinessOptionError(`${path}.${phase.name}.probes`, `names unknown probe "${probe}" (known probes: ${listOrNone(probeNames)})`)
    }
  }
  const cycle = findCycle(phases)
  if (cycle !== null) throw new ReadinessOptionError(path, `contain a cycle: ${cycle.join(' -> ')}`)
}

/** Rejects a cyclic graph; needs no probe names, so it can run at registration. */
export function assertAcyclic (phases: ReadonlyMap<string, PhaseConfig<unknown>>, path = 'phases'): void {
  const known = new Map([...phases].map(([name, p]) => [name, { ...p, after: p.after.filter((d) => phases.has(d)) }]))
  const cycle = findCycle(known)
  if (cycle !== null) throw new ReadinessOptionError(path, `contain a cycle: ${cycle.join(' -> ')}`)
}

function findCycle (phases: ReadonlyMap<string, PhaseConfig<unknown>>): string[] | null {
  const state = new Map<string, 'visiting' | 'done'>()
  const stack: string[] = []
  const visit = (name: string): string[] | null => {
    const mark = state.get(name)
    if (mark === 'done') return null
    if (mark === 'visiting') return [...stack.slice(stack.indexOf(name)), name]
    state.set(name, 'visiting')
    stack.push(name)
    for (const dep of phases.get(name)?.after ?? []) {
      const cycle = visit(dep)
      if (cycle !== null) return cycle
    }
    stack.pop()
    state.set(name, 'done')
    return null
  }
  for (const name of phases.keys()) {
    const cycle = visit(name)
    if (cycle !== null) return cycle
  }
  return null
}

/**
 * The longest chain of phase timeouts: the most a startup can take when every
 * phase on its slowest path uses its full budget.
 */
export function criticalPathBudget (phases: ReadonlyMap<string, PhaseConfig<unknown>>): { budget: number, path: string[] } {
  const memo = new Map<string, { budget: number, path: string[] }>()
  const longest = (name: string): { budget: number, path: string[] } => {
    const cached = memo.get(name)
    if (cached !== undefined) return cached
    const phase = phases.get(name) as PhaseConfig<unknown>
    let best = { budget: 0, path: [] as string[] }
    // Unknown names are reported at ready(); here they just add nothing.
    for (const dep of phase.after.filter((d) => phases.has(d))) {
      const candidate = longest(dep)
      if (candidate.budget > best.budget) best = candidate
    }
    const result = { budget: best.budget + phase.timeout, path: [...best.path, name] }
    memo.set(name, result)
    return result
  }
  let overall = { budget: 0, path: [] as string[] }
  for (const name of phases.keys()) {
    const candidate = longest(name)
    if (candidate.budget > overall.budget) overall = candidate
  }
  return overall
}

function listOrNone (names: Iterable<string>): string {
  const list = [...names]
  return list.length === 0 ? 'none' : list.join(', ')
}
