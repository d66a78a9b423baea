import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { ReadinessOptionError } from '../lib/errors.js'
import { durationOption, enumOption, objectOption } from '../lib/options.js'
import { parsePhase, type PhaseDefinition } from '../lib/phase-options.js'
import type { StartupMode } from '../lib/readiness.js'
import { PROBES_PLUGIN_NAME } from './probes.js'
import { ensureReadiness, rejectUnknownPluginKeys } from './shared.js'

export interface StartupPluginOptions {
  /** The startup graph: each phase may come `after` others, wait for `probes`, and `run` work. */
  phases?: Record<string, PhaseDefinition<FastifyInstance>>
  /**
   * `background` (default): startup runs after `ready()`, so the server listens at once and
   * the health routes tell the truth meanwhile. `blocking`: `ready()`/`listen()` wait for it.
   */
  mode?: StartupMode
  /** Overall bound on startup, in ms. Defaults to the critical path of phase timeouts. */
  timeout?: number
}

export const STARTUP_PLUGIN_NAME = 'fastify-readiness-startup'

const startupPlugin: FastifyPluginAsync<StartupPluginOptions> = async (fastify, opts) => {
  rejectUnknownPluginKeys('startup', opts as Record<string, unknown>, ['phases', 'mode', 'timeout'])
  const readiness = ensureReadiness(fastify)
  const phases = objectOption('phases', opts.phases)
  readiness.addPhases(Object.entries(phases).map(([name, definition]) => parsePhase<FastifyInstance>(`phases.${name}`, name, definition)))
  const mode = enumOption<StartupMode>('startup.mode', opts.mode, ['background', 'blocking'], 'background')
  readiness.startupMode = mode
  const timeout = durationOption('startup.timeout', opts.timeout, 0) || undefined

  if (mode === 'blocking') assertFitsPluginTimeout(fastify, timeout ?? readiness.startupBudget().budget, timeout !== undefined)

  fastify.addHook('onReady', async function runStartup () {
    // Throws (and so fails ready()) on unknown phases or probes and on cycles.
    const completion = readiness.startup(timeout)
    // In background mode a failure is reported through status, events and the log.
    if (mode === 'blocking') await completion
  })
}

/**
 * Fastify bounds each onReady hook by `pluginTimeout`; a blocking startup that
 * may legitimately take longer would be killed by Fastify with a vague
 * timeout error, which is exactly the incident's "static 10 s" failure.
 */
function assertFitsPluginTimeout (fastify: FastifyInstance, budget: number, explicit: boolean): void {
  const pluginTimeout = fastify.initialConfig.pluginTimeout ?? 10_000
  if (pluginTimeout === 0 || budget <= pluginTimeout) return
  const source = explicit ? 'startup.timeout' : 'the critical path of phase timeouts'
  throw new ReadinessOptionError('startup.mode',
    `is 'blocking', but the startup budget (${source}) is ${budget} ms, above Fastify's pluginTimeout of ${pluginTimeout} ms, ` +
    `which bounds every onReady hook. Fix: create Fastify with { pluginTimeout: ${budget + 1000} } (or more), lower the phase timeouts, ` +
    'or use startup.mode \'background\' and let /health/ready report readiness.')
}

export default fp(startupPlugin, { fastify: '5.x', name: STARTUP_PLUGIN_NAME, dependencies: [PROBES_PLUGIN_NAME] })
