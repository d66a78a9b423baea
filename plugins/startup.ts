import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { ReadinessOptionError } from '../lib/common/errors.js'
import { BUDGET_ENV, computeBudget, type Budget } from '../lib/startup/budget.js'
import { describe, durationOption, enumOption, integerOption, nameOption, objectOption, rejectUnknownKeys } from '../lib/common/options.js'
import { option, readOptionTable } from '../lib/common/option-spec.js'
import { detectPlatform } from '../lib/startup/platform.js'
import { parsePhase, type PhaseDefinition } from '../lib/startup/phase-options.js'
import type { StartupMode } from '../lib/core/readiness.js'
import { PROBES_PLUGIN_NAME } from './probes.js'
import { claimPart, ensureReadiness } from '../lib/core/app.js'

export interface StartupPluginOptions {
  /** The startup graph: each phase may come `after` others, wait for `probes`, and `run` work. */
  phases?: Record<string, PhaseDefinition<FastifyInstance>>
  /**
   * `background` (default): startup runs after `ready()`, so the server listens at once and
   * the health routes tell the truth meanwhile. `blocking`: `ready()`/`listen()` wait for it.
   */
  mode?: StartupMode
  /**
   * Overall bound on startup, in ms. Default: the critical path of phase timeouts plus a margin
   * for the platform (see `margin`); the READINESS_STARTUP_BUDGET_MS environment variable overrides
   * the default, and this option overrides both.
   */
  timeoutMs?: number
  /** Margin over the critical path (0.5 = +50%). Default by platform: Cloud Run 0.5, Kubernetes 0.25, local 0.1; +0.25 in production. */
  margin?: number
  /** Environment name used for defaults and reported in status (default NODE_ENV, else `development`). */
  environment?: string
  /** Your Kubernetes startup probe, so startup can warn when the budget exceeds periodSeconds x failureThreshold. */
  startupProbe?: { periodSeconds: number, failureThreshold: number }
  /**
   * After a startup failure, `/health/live` turns 503 once this many ms have passed (default 30000), so an
   * orchestrator restarts the process even where no startupProbe is set (otherwise the pod would stay unready
   * forever). `false` keeps liveness up.
   */
  failedLivenessGraceMs?: number | false
}

export const STARTUP_PLUGIN_NAME = 'fastify-readiness-startup'

/** The startup plugin's options: the allow-list and the defaults come from here. */
export const STARTUP_OPTIONS = {
  phases: option('the startup graph: name to a run function or { after, probes, run, timeoutMs, expectedMs }', (_path, v) =>
    Object.entries(objectOption('phases', v)).map(([name, definition]) => parsePhase<FastifyInstance>('phases', name, definition))),
  mode: option("'background' (default): startup runs after ready(); 'blocking': ready()/listen() wait for it", (path, v) => enumOption<StartupMode>(path, v, ['background', 'blocking'], 'background')),
  timeoutMs: option('overall bound on startup, in ms (default: the critical path of phase timeouts plus a margin)', (path, v) => durationOption(path, v, 0) || undefined),
  margin: option('margin over the critical path (0.5 = +50%); default by platform', (_path, v) => parseMargin(v)),
  environment: option('environment name for defaults and status (default NODE_ENV, else development)', (path, v) => v === undefined ? undefined : nameOption(path, v)),
  startupProbe: option('your Kubernetes startupProbe { periodSeconds, failureThreshold }, to warn when the budget exceeds it', (_path, v) => parseStartupProbe(v)),
  failedLivenessGraceMs: option('after a failed startup, /health/live fails once this many ms have passed (default 30000); false keeps it up', (path, v) =>
    v === false ? null : durationOption(path, v, 30_000, { allowZero: true }))
}

/** Keys renamed in 0.3.0 (one unit convention: ...Ms). */
export const STARTUP_RENAMED = { timeout: 'timeoutMs', failedLivenessGrace: 'failedLivenessGraceMs' }

const startupPlugin: FastifyPluginAsync<StartupPluginOptions> = async (fastify, opts) => {
  const o = readOptionTable('startup', opts as Record<string, unknown>, STARTUP_OPTIONS, { renamed: STARTUP_RENAMED })
  const readiness = ensureReadiness(fastify)
  claimPart(fastify, 'the startup phases')
  readiness.addPhases(o.phases)
  const mode = o.mode
  const platform = detectPlatform(process.env, o.environment)
  const path = readiness.startupBudget()
  const budget = computeBudget({ criticalPathMs: path.budget, criticalPath: path.path, platform, explicitMs: o.timeoutMs, margin: o.margin, env: process.env, probe: o.startupProbe })
  readiness.configureStartup({ mode, budget, platform, failedStartupGraceMs: o.failedLivenessGraceMs })

  if (mode === 'blocking') assertFitsPluginTimeout(fastify, budget)

  fastify.addHook('onReady', async function runStartup () {
    fastify.log.info({ platform: platform.name, environment: platform.environment, mode, budgetMs: budget.budgetMs, budgetSource: budget.source, criticalPath: budget.criticalPath }, 'startup began')
    for (const warning of budget.warnings) fastify.log.warn({ platform: platform.name }, `fastify-readiness: ${warning}`)
    const label = budget.source === 'option' ? 'startup.timeoutMs' : budget.source === 'env' ? BUDGET_ENV : 'the startup budget'
    // Throws (and so fails ready()) on unknown phases or probes.
    const completion = readiness.startup(path.path.length > 0 ? budget.budgetMs : undefined, label)
    // In background mode a failure is reported through status, events and the log.
    if (mode === 'blocking') await completion
  })
}

function parseMargin (value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 10) {
    throw new ReadinessOptionError('startup.margin', `must be a number from 0 to 10 (0.5 = +50%), got ${describe(value)}`)
  }
  return value
}

function parseStartupProbe (value: unknown): { periodSeconds: number, failureThreshold: number } | undefined {
  if (value === undefined) return undefined
  const probe = objectOption('startup.startupProbe', value)
  rejectUnknownKeys('startup.startupProbe', probe, ['periodSeconds', 'failureThreshold'])
  return {
    periodSeconds: integerOption('startup.startupProbe.periodSeconds', probe.periodSeconds, 10, 1),
    failureThreshold: integerOption('startup.startupProbe.failureThreshold', probe.failureThreshold, 3, 1)
  }
}

/**
 * Fastify bounds each onReady hook by `pluginTimeout`; a blocking startup that
 * may legitimately take longer would be killed by Fastify with a vague
 * timeout error, which is exactly the incident's "static 10 s" failure.
 */
function assertFitsPluginTimeout (fastify: FastifyInstance, budget: Budget): void {
  const pluginTimeout = fastify.initialConfig.pluginTimeout ?? 10_000
  if (pluginTimeout === 0 || budget.budgetMs <= pluginTimeout) return
  const source = budget.source === 'option'
    ? 'startup.timeoutMs'
    : budget.source === 'env' ? BUDGET_ENV : `critical path ${budget.criticalPathMs} ms + ${Math.round(budget.margin * 100)}% margin`
  throw new ReadinessOptionError('startup.mode',
    `is 'blocking', but the startup budget is ${budget.budgetMs} ms (${source}), above Fastify's pluginTimeout of ${pluginTimeout} ms, ` +
    `which bounds every onReady hook. Fix: create Fastify with { pluginTimeout: ${budget.budgetMs + 1000} } (or more), lower the phase timeouts, ` +
    'or use startup.mode \'background\' and let /health/ready report readiness.')
}

export default fp(startupPlugin, { fastify: '5.x', name: STARTUP_PLUGIN_NAME, dependencies: [PROBES_PLUGIN_NAME] })
