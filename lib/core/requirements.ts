import { ReadinessOptionError } from '../common/errors.js'
import type { Probe } from '../probes/probe.js'
import type { PhaseConfig } from '../startup/phase-options.js'
import type { PhaseState } from '../startup/runner.js'

/** What the requirements need to know of startup: a phase's state, and whether startup is done. */
export interface StartupView {
  phaseState: (name: string) => PhaseState | undefined
  done: () => boolean
}

/**
 * The registry of probes and phases (one namespace: a route or group names either), and the
 * queries over it: does a set of requirements hold, which do not. Shutdown and the manual switch
 * are not requirements: the state adds them on top.
 */
export class Requirements<App = unknown> {
  readonly probes = new Map<string, Probe>()
  readonly phases = new Map<string, PhaseConfig<App>>()
  /** Probes every requirement check includes (event-loop pressure): no route is exempt. */
  readonly #everywhere = new Set<string>()
  /** Probes added at runtime to a ready app: they count once they have a verdict, not before. */
  readonly #provisional = new Set<string>()
  /** Probes removed at runtime: a route that named one no longer waits for it. */
  readonly #removed = new Set<string>()
  readonly #startup: StartupView
  #criticalNotPassing = 0
  #nonCriticalFailing = 0

  constructor (startup: StartupView) {
    this.#startup = startup
  }

  assertFreeName (path: string, name: string): void {
    if (this.probes.has(name)) throw new ReadinessOptionError(path, `"${name}" is already a probe: probe and phase names must be unique`)
    if (this.phases.has(name)) throw new ReadinessOptionError(path, `"${name}" is already a phase: probe and phase names must be unique`)
  }

  /** `provisional`: added to a ready app, it holds until its first verdict. */
  addProbe (probe: Probe, provisional: boolean): void {
    this.probes.set(probe.name, probe)
    this.#removed.delete(probe.name)
    if (provisional) this.#provisional.add(probe.name)
    this.count()
  }

  removeProbe (name: string): Probe | undefined {
    const probe = this.probes.get(name)
    if (probe === undefined) return undefined
    this.probes.delete(name)
    this.#provisional.delete(name)
    this.#everywhere.delete(name)
    this.#removed.add(name)
    this.count()
    return probe
  }

  /** A probe's first verdict is in: from now on it counts like any other probe. */
  settled (name: string): void {
    this.#provisional.delete(name)
    this.count()
  }

  addPhase (phase: PhaseConfig<App>): void {
    this.assertFreeName(`phases.${phase.name}`, phase.name)
    this.phases.set(phase.name, phase)
  }

  requireEverywhere (name: string): void {
    if (!this.probes.has(name)) throw new ReadinessOptionError('requireEverywhere', `names unknown probe "${name}"`)
    this.#everywhere.add(name)
  }

  /** Every critical requirement of full readiness holds (O(1): counted when a probe changes). */
  get allCriticalHold (): boolean { return this.#startup.done() && this.#criticalNotPassing === 0 }
  /** A non-critical probe fails, or any probe says `warn`. */
  get degraded (): boolean { return this.#nonCriticalFailing > 0 }

  holds (name: string): boolean {
    const probe = this.probes.get(name)
    if (probe !== undefined) return probe.passing || (probe.status === 'unknown' && this.#provisional.has(name))
    if (this.#removed.has(name)) return true
    return this.#startup.phaseState(name) === 'done'
  }

  /** Whether the named requirements hold (with no names: every requirement of full readiness). */
  meets (requires: readonly string[] | undefined): boolean {
    if (requires === undefined) return this.allCriticalHold
    for (const name of requires) if (!this.holds(name)) return false
    for (const name of this.#everywhere) if (!this.holds(name)) return false
    return true
  }

  /** The unmet ones among the named requirements (or among full readiness's). */
  missing (requires: readonly string[] | undefined): string[] {
    const out: string[] = []
    if (requires === undefined) {
      if (this.phases.size === 0 && !this.#startup.done()) out.push('startup')
      for (const name of this.phases.keys()) if (!this.holds(name)) out.push(name)
      for (const [name, probe] of this.probes) if (probe.critical && !this.holds(name)) out.push(name)
    } else {
      for (const name of requires) if (!this.holds(name)) out.push(name)
      for (const name of this.#everywhere) if (!requires.includes(name) && !this.holds(name)) out.push(name)
    }
    return out
  }

  /**
   * A health group's unmet names: every included phase and probe (all phases and critical probes
   * when `include` is undefined), minus `exclude`.
   */
  groupMissing (include: readonly string[] | undefined, exclude: readonly string[]): string[] {
    const out: string[] = []
    // Pressure (required everywhere) counts in every group unless the group excludes it.
    const names = [...(include ?? [...this.phases.keys(), ...[...this.probes].filter(([, p]) => p.critical).map(([n]) => n)]), ...this.#everywhere]
    const seen = new Set<string>()
    for (const name of names) {
      if (seen.has(name) || exclude.includes(name)) continue
      seen.add(name)
      if (!this.holds(name)) out.push(name)
    }
    if (include === undefined && this.phases.size === 0 && !this.#startup.done() && !exclude.includes('startup')) out.push('startup')
    return out
  }

  /** Checks that every name is a known phase or probe; used to validate route requirements. */
  assertKnown (path: string, names: readonly string[]): void {
    for (const name of names) {
      if (!this.phases.has(name) && !this.probes.has(name)) {
        throw new ReadinessOptionError(path, `names "${name}", which is neither a phase nor a probe (phases: ${[...this.phases.keys()].join(', ') || 'none'}; probes: ${[...this.probes.keys()].join(', ') || 'none'})`)
      }
    }
  }

  /** Interval and timeout of every critical probe not passing (for the retry and hold policy). */
  failingCritical (): Array<{ interval: number, timeout: number }> {
    const out: Array<{ interval: number, timeout: number }> = []
    for (const probe of this.probes.values()) if (probe.critical && !probe.passing) out.push(probe.config)
    return out
  }

  // Probe flips are rare, so a recount beats keeping incremental counters right.
  count (): void {
    let criticalNotPassing = 0
    let nonCriticalFailing = 0
    for (const probe of this.probes.values()) {
      if (probe.critical && !this.holds(probe.name)) criticalNotPassing++
      // A probe that says `warn` passes but degrades the app, critical or not.
      if ((!probe.critical && probe.status === 'fail') || probe.status === 'warn') nonCriticalFailing++
    }
    this.#criticalNotPassing = criticalNotPassing
    this.#nonCriticalFailing = nonCriticalFailing
  }
}
